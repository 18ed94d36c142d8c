//! One end of a ring as the queues use it: a producer and a consumer, each optional, and
//! the put/get paths shared by every queue flavour and by pipes. The producer is made
//! with the handle, not at its first put: a handle that has not put yet must still keep
//! readers from seeing `Closed`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipc_core::ring::{Consumer, Producer, ReadGuard, Ring, WriteSlot};
use ipc_core::OpenError;

use crate::error::{Error, GetError, PutError};
use crate::message::{self, Encode, Message};

/// How long to wait: not at all, until a deadline, or forever. `pub` in a private module:
/// it appears in `Iter`'s sealed `Source` trait, which no other crate can name.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    No,
    Until(Option<Instant>),
}

impl Wait {
    pub(crate) fn timeout(t: Duration) -> Wait {
        Wait::Until(ipc_core::deadline_after(t))
    }
}

/// A ring plus this handle's roles on it. Every role held is a presence: consumers of a
/// queue see `Closed` only when no producer presence is left anywhere.
pub(crate) struct Endpoint {
    pub(crate) ring: Ring,
    tx: Option<Producer>,
    rx: Option<Consumer>,
    /// Serialized size of the last value put: the next reservation.
    guess: AtomicUsize,
}

impl Endpoint {
    pub(crate) fn new(ring: Ring, send: bool, recv: bool) -> Result<Endpoint, OpenError> {
        Ok(Endpoint {
            tx: if send { Some(ring.producer()?) } else { None },
            rx: if recv { Some(ring.consumer()?) } else { None },
            ring,
            guess: AtomicUsize::new(0),
        })
    }

    /// Another handle on the same ring with the same open roles (and presences of its
    /// own): a role this handle closed stays closed in the clone.
    pub(crate) fn try_clone(&self) -> Result<Endpoint, OpenError> {
        let e = Endpoint::new(self.ring.clone(), self.can_send(), self.can_recv())?;
        e.guess
            .store(self.guess.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(e)
    }

    pub(crate) fn can_send(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }

    pub(crate) fn can_recv(&self) -> bool {
        self.rx.as_ref().is_some_and(|rx| !rx.is_closed())
    }

    /// Ends this handle's producing: readers see `Closed` once every producer is gone.
    /// Through `&self`, so that a forked child can close a handle it inherited.
    pub(crate) fn close_send(&self) {
        if let Some(tx) = &self.tx {
            tx.close();
        }
    }

    /// Ends this handle's consuming: producers see `Closed` once every consumer is gone.
    pub(crate) fn close_recv(&self) {
        if let Some(rx) = &self.rx {
            rx.close();
        }
    }

    pub(crate) fn put<T: Message>(&self, value: T, wait: Wait) -> Result<(), PutError<T>> {
        self.put_framed(&[], &value, wait)
            .map_err(|e| e.map_value(|()| value))
    }

    /// Puts one record: `header`, then `value` serialized (see [`message::put`]).
    pub(crate) fn put_framed<T: Encode>(
        &self,
        header: &[u8],
        value: &T,
        wait: Wait,
    ) -> Result<(), PutError<()>> {
        let Some(tx) = &self.tx else {
            return Err(PutError::Closed(()));
        };
        let guess = match self.guess.load(Ordering::Relaxed) {
            // First put: the archived root, rounded up to the ring's 16-byte unit.
            0 => header.len() + std::mem::size_of::<T::Archived>().next_multiple_of(16),
            g => g,
        };
        match message::put(tx, header, value, guess, wait) {
            Ok(len) => {
                self.guess.store(len, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(PutError::from_fail(e, ())),
        }
    }

    pub(crate) fn put_bytes(&self, bytes: &[u8], wait: Wait) -> Result<(), PutError<()>> {
        let Some(tx) = &self.tx else {
            return Err(PutError::Closed(()));
        };
        message::push(tx, bytes, wait).map_err(|e| PutError::from_push(e, ()))
    }

    /// Claims room for a `len`-byte record to be written in place, waiting as `wait` says.
    pub(crate) fn reserve(&self, len: usize, wait: Wait) -> Result<WriteSlot<'_>, PutError<()>> {
        let Some(tx) = &self.tx else {
            return Err(PutError::Closed(()));
        };
        match wait {
            Wait::No => tx.try_reserve(len),
            Wait::Until(deadline) => tx.reserve_deadline(len, deadline),
        }
        .map_err(|e| PutError::from_push(e, ()))
    }

    /// This end's consumer, or the error for a sending-only end of a simplex pipe.
    #[inline(always)]
    fn consumer(&self) -> Result<&Consumer, GetError> {
        match &self.rx {
            Some(rx) => Ok(rx),
            None => Err(cannot_receive()),
        }
    }

    // Always inlined: returned from a call, the guard went through the stack in pieces
    // and was read back whole, a store-forwarding stall on every `get_ref` and
    // `try_get` (one thread: 31.6 -> 27.2 ns a `get_ref`, 32.2 -> 27.6 a `get_many`,
    // which takes all but its first item with `try_get`).
    #[inline(always)]
    pub(crate) fn pop(&self, wait: Wait) -> Result<ReadGuard<'_>, GetError> {
        let rx = self.consumer()?;
        let r = match wait {
            Wait::No => rx.try_pop(),
            Wait::Until(d) => rx.pop_deadline(d),
        };
        r.map_err(GetError::from_pop)
    }

    /// Waits as `wait` says until a record is ready to take, taking nothing.
    pub(crate) fn ready(&self, wait: Wait) -> Result<(), GetError> {
        let rx = self.consumer()?;
        let deadline = match wait {
            Wait::No => Some(std::time::Instant::now()),
            Wait::Until(d) => d,
        };
        rx.wait_ready(deadline).map_err(GetError::from_pop)
    }

    #[inline]
    pub(crate) fn get<T: Message>(&self, wait: Wait) -> Result<T, GetError> {
        let record = self.pop(wait)?;
        message::decode::<T>(&record).map_err(|e| GetError::Invalid(Error::rkyv(e)))
    }
}

#[cold]
fn cannot_receive() -> GetError {
    GetError::Failed(Error::handle(
        "this connection end cannot receive (the pipe is simplex)",
    ))
}
