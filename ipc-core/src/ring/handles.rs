//! Producer and consumer handles: the blocking, timeout and close logic around the raw
//! protocol, and the guards that write and read records in place.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32 as StdAtomicU32, Ordering as StdOrdering};
use std::time::{Duration, Instant};

use super::raw::{owner_of, state_of, Hint, ReadClaim, Taken, WriteClaim, READING};
use super::{PresenceCache, Ring};
use crate::error::{PopError, PushError};
use crate::futex::Wake;
use crate::liveness::{PresenceLock, Role};
use crate::primitive::{spin_hint, Ordering};
use crate::waiter::{deadline_after, Backoff};

/// Writes records into a [`Ring`]. Each handle counts as an open producer until dropped.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::Ring;
/// use ipc_core::PushError;
/// use std::time::Duration;
///
/// let ring = Ring::builder().capacity(64).maxsize(1).create()?;
/// let tx = ring.producer()?;
/// tx.push(b"first")?;
/// assert_eq!(tx.try_push(b"second"), Err(PushError::Full));
/// assert_eq!(tx.push_timeout(b"second", Duration::from_millis(10)), Err(PushError::Timeout));
/// assert!(matches!(tx.try_push(&[0; 100]), Err(PushError::TooLarge { len: 100, max: 64 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer {
    pub(super) ring: Ring,
    /// Released by [`close`](Producer::close) or on drop.
    pub(super) presence: PresenceLock,
    /// Where this handle's next claim likely goes (the tail cursor lags a few records).
    pub(super) hint: Hint,
}

/// Reads records from a [`Ring`]. Each handle counts as an open consumer until dropped.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::Ring;
/// use ipc_core::PopError;
/// use std::time::Duration;
///
/// let ring = Ring::builder().create()?;
/// let (tx, rx) = (ring.producer()?, ring.consumer()?);
/// assert_eq!(rx.try_pop().unwrap_err(), PopError::Empty);
/// assert_eq!(rx.pop_timeout(Duration::from_millis(10)).unwrap_err(), PopError::Timeout);
/// tx.push(b"last words")?;
/// drop(tx); // the only producer closes: drain, then Closed
/// assert_eq!(&*rx.pop()?, b"last words");
/// assert_eq!(rx.pop().unwrap_err(), PopError::Closed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    pub(super) ring: Ring,
    /// Released by [`close`](Consumer::close) or on drop.
    pub(super) presence: PresenceLock,
    /// When producers were last seen present (see `producers_gone`).
    pub(super) seen_producers: PresenceCache,
    /// Records taken at once, by `pop` or `try_pop`, since this handle last waited in
    /// `pop_wait` (a hint: a few scattered `try_pop`s count too, and cost at most one
    /// catch-up wait).
    pub(super) hits: StdAtomicU32,
    /// Where this handle's next take likely is (the head cursor lags a few records).
    pub(super) hint: Hint,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.ring)
            .finish()
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("ring", &self.ring)
            .finish()
    }
}

impl Clone for Producer {
    /// Another producer handle (with its own presence); closed if this one is.
    fn clone(&self) -> Self {
        let p = self
            .ring
            .producer()
            .expect("cannot open a presence lock for the cloned producer");
        if self.is_closed() {
            p.close();
        }
        p
    }
}

impl Clone for Consumer {
    /// Another consumer handle (with its own presence); closed if this one is.
    fn clone(&self) -> Self {
        let c = self
            .ring
            .consumer()
            .expect("cannot open a presence lock for the cloned consumer");
        if self.is_closed() {
            c.close();
        }
        c
    }
}

/// Records taken without waiting that make a consumer count as streaming.
const STREAM_HITS: u32 = 64;
/// How long a streaming consumer waits, touching nothing shared, when it finds the ring
/// empty, for the producer to get well ahead. Timed, not counted in pauses: a pause takes
/// 23 ns on this project's AMD EPYC host and a few ns on other CPUs. With 370 ns (16
/// pauses here), a consumer faster than its producer stayed in the faster-consumer trap
/// (ring README, "Lagging cursors"): `Queue<u64>` `get_ref` ran 13-16 ns in some runs and
/// 53-55 ns in others. With 32 pauses it wavered (15-20 ns), with 64 it held at
/// 14.8-15.2 ns and with 128 (about 3 us) at 13.7-14.9 ns, five runs each. Never past the
/// caller's deadline.
const CATCH_UP: Duration = Duration::from_micros(3);

/// Releases a handle's presence once, and wakes every waiter on the ring: the other side
/// may now be gone, and a thread of this process may be blocked on this very handle.
fn close_handle(ring: &Ring, presence: &PresenceLock) {
    if presence.release() {
        let raw = ring.raw();
        raw.closes().fetch_add(1, Ordering::SeqCst);
        raw.not_empty().notify(u32::MAX);
        raw.not_full().notify(u32::MAX);
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        close_handle(&self.ring, &self.presence);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        close_handle(&self.ring, &self.presence);
    }
}

impl Producer {
    /// The ring this handle writes to.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let tx = ring.producer()?;
    /// assert_eq!(tx.ring().capacity(), 4096);
    /// let rx = tx.ring().consumer()?; // another handle on the same ring
    /// tx.push(b"hi")?;
    /// assert_eq!(&*rx.pop()?, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Copies `bytes` into the ring as one record, waiting while it is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().capacity(64).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"hello")?;
    /// assert_eq!(tx.push(&[0; 65]), Err(PushError::TooLarge { len: 65, max: 64 }));
    /// tx.close();
    /// assert_eq!(tx.push(b"more"), Err(PushError::Closed));
    /// assert_eq!(&*rx.pop()?, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn push(&self, bytes: &[u8]) -> Result<(), PushError> {
        self.push_deadline(bytes, None)
    }

    /// Like [`push`](Self::push) but fails with [`PushError::Full`] instead of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_push(b"one")?;
    /// assert_eq!(tx.try_push(b"two"), Err(PushError::Full));
    /// drop(rx);
    /// assert_eq!(tx.try_push(b"two"), Err(PushError::Closed)); // full, and no reader left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_push(&self, bytes: &[u8]) -> Result<(), PushError> {
        let mut slot = self.try_reserve(bytes.len())?;
        copy_record(&mut slot, bytes);
        slot.commit();
        Ok(())
    }

    /// Like [`push`](Self::push) but gives up with [`PushError::Timeout`] after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    /// use std::time::{Duration, Instant};
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let ms = Duration::from_millis(10);
    /// tx.push_timeout(b"one", ms)?;
    /// let start = Instant::now();
    /// assert_eq!(tx.push_timeout(b"two", ms), Err(PushError::Timeout));
    /// assert!(start.elapsed() >= ms);
    /// drop(rx);
    /// assert_eq!(tx.push_timeout(b"two", ms), Err(PushError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn push_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<(), PushError> {
        self.push_deadline(bytes, deadline_after(timeout))
    }

    /// Like [`push`](Self::push) but gives up at `deadline` (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    /// use std::time::{Duration, Instant};
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, _rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push_deadline(b"one", None)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(tx.push_deadline(b"two", Some(soon)), Err(PushError::Timeout));
    /// assert!(Instant::now() >= soon);
    /// tx.close();
    /// assert_eq!(tx.push_deadline(b"two", None), Err(PushError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn push_deadline(&self, bytes: &[u8], deadline: Option<Instant>) -> Result<(), PushError> {
        // The common case works on the claim itself, not a `WriteSlot`: the copy cannot
        // fail, so nothing needs cancelling, and moving a slot through the stack cost a
        // store-forwarding stall on every small push (perf, `Queue<u64>` across processes).
        if let Some(claim) = self.claim_fast(bytes.len()) {
            // Nothing from here to `publish` may panic or return: the record would stay
            // `WRITING` under a live owner, and consumers would wait on it for good.
            debug_assert_eq!(claim.len, bytes.len());
            let raw = self.ring.raw();
            // SAFETY: the claim gives us sole access to its `len` bytes (in its descriptor
            // or in the data area, as `try_claim` placed them) until it is published.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    raw.payload_ptr(claim.seq, claim.inline, claim.off),
                    claim.len,
                )
            };
            copy_record(dst, bytes);
            raw.publish(&claim, claim.len);
            return Ok(());
        }
        let mut slot = self.reserve_wait_for(bytes.len(), deadline)?;
        copy_record(&mut slot, bytes);
        slot.commit();
        Ok(())
    }

    /// Claims room for a record of `len` bytes if there is room right now (`Ok(None)`
    /// when the ring is full). Unlike [`try_reserve`](Self::try_reserve) it does not ask
    /// whether any consumer is left (a system call), for callers that go on to wait or
    /// push another way when it is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().maxsize(1).create()?;
    /// let tx = ring.producer()?;
    /// tx.reserve_now(8)?.expect("room for one").commit();
    /// assert!(tx.reserve_now(8)?.is_none(), "full");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve_now(&self, len: usize) -> Result<Option<WriteSlot<'_>>, PushError> {
        self.check_len(len)?;
        let raw = self.ring.raw();
        let me = self.ring.me()?;
        let mut claim = raw.try_claim(me, len, &self.hint)?;
        if claim.is_none() {
            if self.is_closed() {
                return Err(PushError::Closed);
            }
            // Records taken since the free cursor last moved are room too (and a releaser
            // may have died before moving it).
            raw.advance_free()?;
            claim = raw.try_claim_exact(me, len, &self.hint)?;
        }
        match claim {
            Some(claim) => {
                raw.prefetch_next(&claim);
                Ok(Some(self.slot(self.keep(claim)?)))
            }
            None if self.is_closed() => Err(PushError::Closed),
            None => Ok(None),
        }
    }

    /// Claims room for a record of `len` bytes to fill in place; see [`WriteSlot`].
    /// Fails as [`try_push`](Self::try_push) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let mut slot = tx.try_reserve(5)?;
    /// slot.copy_from_slice(b"hello"); // written straight into shared memory
    /// slot.commit();
    /// assert!(matches!(tx.try_reserve(5), Err(PushError::Full)));
    /// assert_eq!(&*rx.pop()?, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&self, len: usize) -> Result<WriteSlot<'_>, PushError> {
        if let Some(slot) = self.reserve_now(len)? {
            return Ok(slot);
        }
        if !self.ring.peers_present(Role::Consumer) {
            return Err(PushError::Closed);
        }
        Err(PushError::Full)
    }

    #[inline]
    fn slot(&self, claim: WriteClaim) -> WriteSlot<'_> {
        WriteSlot {
            producer: self,
            claim: Some(claim),
        }
    }

    /// The common case, room right now, inlined into the caller (`push_deadline`,
    /// `reserve_*`). Every other outcome (no room, a bad length, a claim error) is left to
    /// `reserve_wait_for`, which looks again and reports it; a failed claim leaves nothing
    /// claimed but, at most, a wrap padding.
    #[inline]
    fn claim_fast(&self, len: usize) -> Option<WriteClaim> {
        self.check_len(len).ok()?;
        let me = self.ring.me().ok()?;
        let raw = self.ring.raw();
        let claim = raw.try_claim(me, len, &self.hint).ok()??;
        raw.prefetch_next(&claim);
        // A closed handle withdraws the claim; `reserve_wait_for` then reports it.
        self.keep(claim).ok()
    }

    /// One exact look for room: moves the free cursor over records taken since it last
    /// moved (consumers move it only every few records), then claims, passing paddings
    /// at the head (`try_claim_exact`). `None`: no room.
    fn look_exact(&self, me: u32, len: usize) -> Result<Option<WriteSlot<'_>>, PushError> {
        let raw = self.ring.raw();
        raw.advance_free()?;
        match raw.try_claim_exact(me, len, &self.hint)? {
            Some(claim) => Ok(Some(self.slot(self.keep(claim)?))),
            None => Ok(None),
        }
    }

    #[inline]
    fn check_len(&self, len: usize) -> Result<(), PushError> {
        let max = self.ring.capacity();
        if len > max || len > u32::MAX as usize {
            return Err(PushError::TooLarge { len, max });
        }
        Ok(())
    }

    /// Claims room for a record of `len` bytes, waiting until `deadline` (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// # let ring = ipc_core::ring::Ring::builder().create()?;
    /// # let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let mut slot = tx.reserve_deadline(8, None)?;
    /// slot.copy_from_slice(&42u64.to_le_bytes()); // written straight into shared memory
    /// slot.commit();
    /// assert_eq!(rx.pop()?.len(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve_deadline(
        &self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<WriteSlot<'_>, PushError> {
        if let Some(claim) = self.claim_fast(len) {
            return Ok(self.slot(claim));
        }
        self.reserve_wait_for(len, deadline)
    }

    /// [`reserve_deadline`](Self::reserve_deadline) after its first look found no room.
    fn reserve_wait_for(
        &self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<WriteSlot<'_>, PushError> {
        self.check_len(len)?;
        let ring = &self.ring;
        let raw = ring.raw();
        let me = ring.me()?;
        let mut backoff = Backoff::new();
        let mut closes_seen = raw.closes().load(Ordering::Acquire);
        let (mut check_peers, mut stuck) = (false, None);
        loop {
            if self.is_closed() {
                return Err(PushError::Closed);
            }
            let no_consumers = check_peers && !ring.peers_present(Role::Consumer);
            check_peers = false;
            if let Some(claim) = raw.try_claim(me, len, &self.hint)? {
                return Ok(self.slot(self.keep(claim)?));
            }
            if no_consumers {
                return Err(PushError::Closed);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // A last look that counts records taken since the free cursor moved: a
                // timeout shorter than the spin phase would otherwise never see them. And
                // a ring no consumer is left on answers Closed, not Timeout.
                return match self.look_exact(me, len)? {
                    Some(found) => Ok(found),
                    None if !ring.peers_present(Role::Consumer) => Err(PushError::Closed),
                    None => Err(PushError::Timeout),
                };
            }
            // While spinning, only retry the claim (`try_claim` reads no line consumers
            // write on every record): the checks below, and `look_exact`, read the
            // consumers' lines (head, descriptors) and would slow the very consumers we
            // wait for.
            if backoff.snooze() {
                continue;
            }
            let ev = raw.not_full();
            let token = ev.prepare_heavy(|| raw.light_peers());
            // Consumers move the free cursor only every few records unless a producer
            // waits: registered now, we either get moved for, or see every record released
            // before they looked (`RawRing::release`). A releaser may also have died
            // before moving it.
            match self.look_exact(me, len) {
                Ok(None) => {}
                Ok(Some(found)) => {
                    ev.cancel(token);
                    return Ok(found);
                }
                Err(e) => {
                    ev.cancel(token); // else the waiter count stays up for good
                    return Err(e);
                }
            }
            let held = raw.oldest_held();
            if let Some((seq, w)) = held {
                if stuck == Some((seq, w)) && !ring.owner_alive(owner_of(w)) {
                    ev.cancel(token);
                    raw.abandon_read(seq, w)?;
                    continue;
                }
            }
            let woke = ev.nap(token, deadline);
            let closes = raw.closes().load(Ordering::Acquire);
            if closes != closes_seen || woke == Wake::TimedOut {
                closes_seen = closes;
                check_peers = true;
            }
            if woke == Wake::TimedOut {
                stuck = held.filter(|&(_, w)| state_of(w) == READING);
            }
            backoff.reset();
        }
    }

    /// Closes this handle now, as dropping it does, but through a shared reference: a
    /// forked child can close the handles it inherited and will not use (Python's
    /// "close the ends you do not need"). Later pushes through it fail with
    /// [`PushError::Closed`]. Consumers see [`PopError::Closed`] once every producer
    /// handle in every process is closed and the ring is drained; a push that another
    /// thread had claimed room for before the close is still delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError, PushError};
    ///
    /// let ring = Ring::builder().create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"last")?;
    /// tx.close();
    /// assert_eq!(tx.push(b"more"), Err(PushError::Closed));
    /// assert_eq!(&*rx.pop()?, b"last");
    /// assert_eq!(rx.pop().unwrap_err(), PopError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        close_handle(&self.ring, &self.presence);
    }

    /// Whether [`close`](Self::close) has run on this handle.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let tx = ring.producer()?;
    /// assert!(!tx.is_closed());
    /// tx.close();
    /// assert!(tx.is_closed());
    /// assert!(tx.clone().is_closed()); // a clone of a closed handle is closed too
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.presence.is_released()
    }

    /// Keeps a claim made through this handle, unless the handle is closed: then the
    /// claim is withdrawn. Checked after claiming, not before, so that a close racing a
    /// push either comes first (the push fails) or finds the record claimed, which
    /// consumers wait for while its owner lives (SeqCst claim CAS, then the SeqCst load
    /// in `is_released`, against `PresenceLock::release`).
    #[inline]
    fn keep(&self, claim: WriteClaim) -> Result<WriteClaim, PushError> {
        if self.presence.is_released() {
            self.ring.raw().cancel(&claim);
            return Err(PushError::Closed);
        }
        Ok(claim)
    }
}

impl Consumer {
    /// The ring this handle reads from.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let rx = ring.consumer()?;
    /// let tx = rx.ring().producer()?; // another handle on the same ring
    /// tx.push(b"hi")?;
    /// assert_eq!(rx.ring().len(), 1);
    /// assert_eq!(&*rx.pop()?, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Takes the next record, waiting while the ring is empty. Returns
    /// [`PopError::Closed`] once the ring is drained and no producer handle is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let writer = std::thread::spawn(move || tx.push(b"from a thread")); // then drops `tx`
    /// assert_eq!(&*rx.pop()?, b"from a thread"); // waits for it
    /// writer.join().unwrap()?;
    /// assert_eq!(rx.pop().unwrap_err(), PopError::Closed); // drained, no producer left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn pop(&self) -> Result<ReadGuard<'_>, PopError> {
        self.pop_deadline(None)
    }

    /// Takes the next record if one is ready; [`PopError::Empty`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// assert_eq!(rx.try_pop().unwrap_err(), PopError::Empty);
    /// tx.push(b"one")?;
    /// assert_eq!(&*rx.try_pop()?, b"one");
    /// drop(tx);
    /// assert_eq!(rx.try_pop().unwrap_err(), PopError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_pop(&self) -> Result<ReadGuard<'_>, PopError> {
        if self.is_closed() {
            return Err(PopError::Closed);
        }
        let ring = &self.ring;
        let raw = ring.raw();
        let me = ring.me()?;
        if let Taken::Record(claim) = raw.try_take(me, &self.hint)? {
            return Ok(self.taken_at_once(claim));
        }
        if !self.producers_gone() {
            return Err(PopError::Empty);
        }
        // No producer is left: whatever is still in the ring is the last of it.
        loop {
            match raw.try_take(me, &self.hint)? {
                Taken::Record(claim) => return Ok(ReadGuard::new(self, claim)),
                // (`Ready` is `try_peek`'s answer, never `try_take`'s.)
                Taken::Empty | Taken::Ready => return Err(PopError::Closed),
                Taken::Busy { seq, word } if !ring.owner_alive(owner_of(word)) => {
                    raw.abandon_write(seq, word)?
                }
                Taken::Busy { .. } => return Err(PopError::Empty),
            }
        }
    }

    /// The guard for a record taken without waiting, counted towards [`STREAM_HITS`]
    /// (by `pop` and `try_pop` alike: a batch taken with `try_pop` after one `pop` is a
    /// stream too).
    #[inline(always)]
    fn taken_at_once(&self, claim: ReadClaim) -> ReadGuard<'_> {
        let h = self.hits.load(StdOrdering::Relaxed);
        self.hits.store(h.saturating_add(1), StdOrdering::Relaxed);
        ReadGuard::new(self, claim)
    }

    /// True if no producer handle is open anywhere (asked at most every
    /// [`PRESENCE_TTL_MS`] ms while no handle closes: see [`PresenceCache`]).
    fn producers_gone(&self) -> bool {
        self.seen_producers.producers_gone(&self.ring)
    }

    /// Like [`pop`](Self::pop) but gives up with [`PopError::Timeout`] after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError};
    /// use std::time::{Duration, Instant};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let ms = Duration::from_millis(10);
    /// let start = Instant::now();
    /// assert_eq!(rx.pop_timeout(ms).unwrap_err(), PopError::Timeout);
    /// assert!(start.elapsed() >= ms);
    /// tx.push(b"one")?;
    /// drop(tx);
    /// assert_eq!(&*rx.pop_timeout(ms)?, b"one");
    /// assert_eq!(rx.pop_timeout(ms).unwrap_err(), PopError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop_timeout(&self, timeout: Duration) -> Result<ReadGuard<'_>, PopError> {
        self.pop_deadline(deadline_after(timeout))
    }

    /// Like [`pop`](Self::pop) but gives up at `deadline` (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError};
    /// use std::time::{Duration, Instant};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.pop_deadline(Some(soon)).unwrap_err(), PopError::Timeout);
    /// assert!(Instant::now() >= soon);
    /// tx.push(b"one")?;
    /// assert_eq!(&*rx.pop_deadline(None)?, b"one");
    /// rx.close();
    /// assert_eq!(rx.pop_deadline(None).unwrap_err(), PopError::Closed); // this handle
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn pop_deadline(&self, deadline: Option<Instant>) -> Result<ReadGuard<'_>, PopError> {
        // The common case, a record ready at the head, inlined into the caller (always:
        // left out of line, the guard came back through the stack and mp-queue's `get_ref`
        // moved it with wider loads than the stores, a store-forwarding stall that also
        // waits for the last `DONE` store to leave the store buffer: 18.6 -> 32 ns a `get_ref`);
        // an empty or busy ring is left to the full loop. An error is returned here: `try_take`
        // has already released the corrupted record, so looking again would skip it.
        if self.is_closed() {
            return Err(PopError::Closed);
        }
        if let Ok(me) = self.ring.me() {
            match self.ring.raw().try_take(me, &self.hint) {
                Ok(Taken::Record(claim)) => return Ok(self.taken_at_once(claim)),
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
        }
        self.pop_wait(deadline)
    }

    fn pop_wait(&self, deadline: Option<Instant>) -> Result<ReadGuard<'_>, PopError> {
        match self.wait::<true>(deadline)? {
            Some(guard) => Ok(guard),
            None => Err(PopError::Empty), // not reached: only a peek finds without taking
        }
    }

    /// Waits until a record is ready to take, without taking it: Python's
    /// `Connection.poll`, where the message stays in the pipe. [`PopError::Closed`] once
    /// the ring is drained and no producer is left, [`PopError::Timeout`] at `deadline`
    /// (`None`: never). Another consumer may take the record before this one does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ipc_core::PopError;
    ///
    /// let ring = ipc_core::ring::Ring::builder().create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.wait_ready(Some(soon)), Err(PopError::Timeout));
    /// tx.push(b"here")?;
    /// rx.wait_ready(None)?;
    /// assert_eq!(&*rx.try_pop()?, b"here"); // still there to take
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_ready(&self, deadline: Option<Instant>) -> Result<(), PopError> {
        self.wait::<false>(deadline).map(drop)
    }

    /// `pop_wait` (`TAKE`: returns the record taken) or `wait_ready` (returns `None` once
    /// a record is ready): one loop, so both wait, recover and see `Closed` alike.
    #[inline(always)]
    fn wait<const TAKE: bool>(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<ReadGuard<'_>>, PopError> {
        let ring = &self.ring;
        let raw = ring.raw();
        let me = ring.me()?;
        let look = || {
            if TAKE {
                raw.try_take(me, &self.hint)
            } else {
                raw.try_peek(me, &self.hint)
            }
        };
        let mut backoff = Backoff::eager();
        // A consumer that caught up with a stream lets the producer get ahead before it
        // looks again: polling the head's descriptor while the producer writes it pulls
        // that line between the cores on every record.
        // A peek is a consumer about to wait for one record at a time (`poll`, then
        // `recv`), not a stream.
        if self.hits.swap(0, StdOrdering::Relaxed) >= STREAM_HITS && TAKE {
            let now = Instant::now();
            let until = deadline.map_or(now + CATCH_UP, |d| d.min(now + CATCH_UP));
            while Instant::now() < until {
                spin_hint();
            }
        }
        let mut closes_seen = raw.closes().load(Ordering::Acquire);
        let (mut check_peers, mut stuck) = (false, None);
        loop {
            if self.is_closed() {
                return Err(PopError::Closed); // closed on another thread while we waited
            }
            // Ask about producers before looking: a record published before the last
            // producer left is then always seen.
            let no_producers = check_peers && !ring.peers_present(Role::Producer);
            check_peers = false;
            let busy = match look()? {
                Taken::Record(claim) => return Ok(Some(ReadGuard::new(self, claim))),
                Taken::Ready => return Ok(None),
                Taken::Empty => None,
                Taken::Busy { seq, word } => Some((seq, word)),
            };
            if let Some((seq, w)) = busy {
                if (no_producers || stuck == Some((seq, w))) && !ring.owner_alive(owner_of(w)) {
                    raw.abandon_write(seq, w)?;
                    continue;
                }
            } else if no_producers {
                return Err(PopError::Closed);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // A last look at who is left before giving up: with no producer left, a
                // drained ring answers Closed, and a record a dead writer left half-written
                // is settled first, however short the timeout (a zero one for `poll(0)`;
                // under load the spin phase alone can outlast a longer one). The next
                // round asks again, then looks. The cached answer, as `try_pop` uses: a
                // caller polling with zero timeouts makes no system call per look.
                if !no_producers && self.producers_gone() {
                    check_peers = true;
                    continue;
                }
                return Err(PopError::Timeout);
            }
            if backoff.snooze() {
                continue;
            }
            let ev = raw.not_empty();
            let token = ev.prepare_heavy(|| raw.light_peers());
            match look() {
                Ok(Taken::Record(claim)) => {
                    ev.cancel(token);
                    return Ok(Some(ReadGuard::new(self, claim)));
                }
                Ok(Taken::Ready) => {
                    ev.cancel(token);
                    return Ok(None);
                }
                Err(e) => {
                    ev.cancel(token); // else the waiter count stays up for good
                    return Err(e.into());
                }
                Ok(_) => {}
            }
            let woke = ev.nap(token, deadline);
            let closes = raw.closes().load(Ordering::Acquire);
            if closes != closes_seen || woke == Wake::TimedOut {
                closes_seen = closes;
                check_peers = true;
            }
            if woke == Wake::TimedOut {
                stuck = busy;
            }
            backoff.reset();
        }
    }

    /// Closes this handle now, as dropping it does, but through a shared reference (see
    /// [`Producer::close`]). Later pops through it fail with [`PopError::Closed`]. Once
    /// every consumer handle is closed, producers see [`PushError::Closed`] when they
    /// would wait for room (a ring with room still takes their records), as
    /// [`Ring::consumer`](crate::ring::Ring::consumer) says.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError, PushError};
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"never read")?;
    /// rx.close();
    /// assert_eq!(rx.try_pop().unwrap_err(), PopError::Closed);
    /// assert_eq!(tx.push(b"no room"), Err(PushError::Closed)); // full, no consumer left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        close_handle(&self.ring, &self.presence);
    }

    /// Whether [`close`](Self::close) has run on this handle.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let rx = ring.consumer()?;
    /// assert!(!rx.is_closed());
    /// rx.close();
    /// assert!(rx.is_closed());
    /// assert!(rx.clone().is_closed()); // a clone of a closed handle is closed too
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.presence.is_released()
    }
}

/// Room for one record, claimed and not yet published. Write the payload through
/// `DerefMut`, then [`commit`](Self::commit). Dropped without committing, the record
/// becomes padding that consumers skip.
pub struct WriteSlot<'a> {
    producer: &'a Producer,
    claim: Option<WriteClaim>,
}

impl WriteSlot<'_> {
    /// Publishes the whole slot.
    ///
    /// # Examples
    ///
    /// ```
    /// # let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// # let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// let mut slot = tx.try_reserve(5)?;
    /// slot.copy_from_slice(b"hello");
    /// slot.commit();
    /// drop(tx.try_reserve(5)?); // never committed: consumers skip it
    /// tx.push(b"next")?;
    /// assert_eq!(&*rx.pop()?, b"hello");
    /// assert_eq!(&*rx.pop()?, b"next");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn commit(self) {
        let len = self.len();
        self.commit_len(len);
    }

    /// Publishes only the first `len` bytes: reserve an upper bound, serialise in place,
    /// commit what was written. A `len` over the reserved length is cut to it. The record
    /// keeps all of its reserved bytes until it is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// # let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// # let (tx, rx) = (ring.producer()?, ring.consumer()?);
    ///
    /// let mut slot = tx.try_reserve(64)?; // an upper bound
    /// let mut free = &mut slot[..];
    /// write!(free, "answer={}", 42)?; // serialised in place
    /// let written = 64 - free.len();
    /// slot.commit_len(written);
    /// assert_eq!(&*rx.pop()?, b"answer=42");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn commit_len(mut self, len: usize) {
        if let Some(claim) = self.claim.take() {
            self.producer.ring.raw().publish(&claim, len.min(claim.len));
        }
    }
}

impl Deref for WriteSlot<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let Some(c) = &self.claim else { return &[] };
        // SAFETY: the claim gives this slot sole access to its `len` bytes (in its
        // descriptor, or at `off` inside the data area, as `try_claim` placed them) until it
        // is published or cancelled.
        unsafe {
            std::slice::from_raw_parts(
                self.producer.ring.raw().payload_ptr(c.seq, c.inline, c.off),
                c.len,
            )
        }
    }
}

impl DerefMut for WriteSlot<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let Some(c) = &self.claim else { return &mut [] };
        // SAFETY: as in `deref`; `&mut self` makes this the only live view.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.producer.ring.raw().payload_ptr(c.seq, c.inline, c.off),
                c.len,
            )
        }
    }
}

impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            self.producer.ring.raw().cancel(&claim);
        }
    }
}

impl fmt::Debug for WriteSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteSlot")
            .field("len", &self.len())
            .finish()
    }
}

/// A record taken from the ring, read in place in shared memory. Dropping it frees its
/// space for producers.
pub struct ReadGuard<'a> {
    consumer: &'a Consumer,
    /// The payload's first byte, worked out once when the record is taken. Every field
    /// is a whole word: a caller loading the guard a `pop` stored reads each field as
    /// it was stored (a bool and a `u32` side by side were loaded as one word, and the
    /// store-forwarding stall cost 2-3 ns a get).
    ptr: *const u8,
    len: usize,
    seq: u64,
}

// SAFETY: `ptr` points into the ring's mapping, which the borrowed consumer keeps alive,
// and the guard only reads through it (what `&[u8]` allows from any thread); dropping it
// releases the record through `&Consumer`, which is `Sync`. So the guard may move to, or
// be shared with, another thread, as it could when it held the claim's offsets instead
// of the pointer.
unsafe impl Send for ReadGuard<'_> {}
// SAFETY: see `Send` above.
unsafe impl Sync for ReadGuard<'_> {}

impl<'a> ReadGuard<'a> {
    #[inline(always)]
    fn new(consumer: &'a Consumer, c: ReadClaim) -> Self {
        ReadGuard {
            consumer,
            ptr: consumer.ring.raw().payload_ptr(c.seq, c.inline, c.off),
            len: c.len,
            seq: u64::from(c.seq),
        }
    }
}

impl Deref for ReadGuard<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `try_take` checked that the record's `len` bytes lie inside its descriptor
        // or the data area, and the READING state keeps producers off them until this
        // guard drops.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // A corrupted free cursor surfaces on the next push or pop; drop cannot report it.
        let _ = self.consumer.ring.raw().release(self.seq as u32);
    }
}

impl fmt::Debug for ReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard").field("len", &self.len).finish()
    }
}

/// Copies a record's bytes into its slot (of the same length). Records of 8 to 32 bytes
/// are copied with two overlapping fixed-size moves: the call to `memcpy` a slice copy
/// makes cost about as much as the rest of a small push. The moves are typed loads and
/// stores, not slice copies: LLVM merged two fixed slice copies of different branches
/// back into one `memcpy` call of a variable length.
#[inline]
fn copy_record(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if dst.len() != n {
        dst.copy_from_slice(src); // panics with the lengths: a bug in the caller
        return;
    }
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    // SAFETY: both slices are `n` bytes long and distinct (`dst` is borrowed mutably), so
    // every move below, at `0` or `n - size` for `n >= size`, stays inside both.
    unsafe {
        match n {
            16..=32 => {
                move_unaligned::<u128>(d, s);
                move_unaligned::<u128>(d.add(n - 16), s.add(n - 16));
            }
            8..=15 => {
                move_unaligned::<u64>(d, s);
                move_unaligned::<u64>(d.add(n - 8), s.add(n - 8));
            }
            _ => std::ptr::copy_nonoverlapping(s, d, n),
        }
    }
}

/// One fixed-size move of `size_of::<T>()` bytes.
///
/// # Safety
/// `src` must be readable and `dst` writable for that many bytes.
#[inline(always)]
unsafe fn move_unaligned<T: Copy>(dst: *mut u8, src: *const u8) {
    // SAFETY: the caller's contract; unaligned accesses have no alignment demand.
    unsafe {
        dst.cast::<T>()
            .write_unaligned(src.cast::<T>().read_unaligned())
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
