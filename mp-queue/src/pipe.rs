//! `pipe(duplex)` and `Connection<T>`: Python's `multiprocessing.Pipe`, one ring per
//! direction.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ipc_core::ring::{PresenceCache, Ring};
use ipc_core::segment::SegmentHandle;

use crate::endpoint::{Endpoint, Wait};
use crate::error::{Error, GetError, PutError, RecvIntoError};
use crate::message::Message;
use crate::queue::{check_shape, check_tag, set_shape, set_tag, QueueBuilder, TAG_PIPE};

/// Bytes of shared memory per direction of a pipe.
pub const PIPE_CAPACITY: usize = 1 << 20;

/// Two connected ends, as Python's `Pipe(duplex)`: with `duplex`, both ends send and
/// receive; without, the first end only receives and the second only sends.
///
/// Each end counts as present until it is dropped or its process exits; a forked child
/// holds the ends it inherited, so drop the end a process does not use (as with Python's
/// and Unix pipes) to let its peer see [`GetError::Closed`].
///
/// # Examples
///
/// ```
/// use mp_queue::{pipe, GetError};
///
/// let (a, b) = pipe::<String>(true)?;
/// a.send("ping".to_string())?;
/// assert_eq!(b.recv()?, "ping");
/// b.send("pong".to_string())?;
/// assert_eq!(a.recv()?, "pong");
/// drop(b);
/// assert_eq!(a.recv(), Err(GetError::Closed)); // the peer is gone
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pipe<T: Message>(duplex: bool) -> Result<(Connection<T>, Connection<T>), Error> {
    pipe_with_capacity(duplex, PIPE_CAPACITY)
}

/// [`pipe`] with `bytes` of shared memory per direction instead of [`PIPE_CAPACITY`]:
/// also the largest message.
///
/// # Examples
///
/// ```
/// let (a, b) = mp_queue::pipe_with_capacity::<Vec<u8>>(false, 16 << 20)?;
/// b.send(vec![7; 4 << 20])?; // 4 MiB: too large for the default 1 MiB pipe
/// assert_eq!(a.recv()?.len(), 4 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pipe_with_capacity<T: Message>(
    duplex: bool,
    bytes: usize,
) -> Result<(Connection<T>, Connection<T>), Error> {
    let ring = || -> Result<Ring, Error> {
        tagged::<T>(QueueBuilder::default().capacity(bytes).create_ring(None)?)
    };
    let forward = ring()?; // second end -> first end
    let first_recv = Endpoint::new(forward.clone(), false, true)?;
    let second_send = Endpoint::new(forward, true, false)?;
    let (first_send, second_recv) = if duplex {
        let back = ring()?;
        (
            Some(Endpoint::new(back.clone(), true, false)?),
            Some(Endpoint::new(back, false, true)?),
        )
    } else {
        (None, None)
    };
    Ok((
        Connection::from_parts(first_send, Some(first_recv)),
        Connection::from_parts(Some(second_send), second_recv),
    ))
}

fn tagged<T: Message>(ring: Ring) -> Result<Ring, Error> {
    set_shape::<T>(&ring);
    set_tag(&ring, TAG_PIPE);
    Ok(ring)
}

/// One end of a [`pipe`]: `send` / `recv` typed values, or raw bytes.
pub struct Connection<T> {
    send: Option<Endpoint>,
    recv: Option<Endpoint>,
    /// When the peer end was last seen present.
    peer: PresenceCache,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field(
                "readable",
                &self.recv.as_ref().is_some_and(Endpoint::can_recv),
            )
            .field(
                "writable",
                &self.send.as_ref().is_some_and(Endpoint::can_send),
            )
            .finish()
    }
}

impl<T: Message> Connection<T> {
    fn from_parts(send: Option<Endpoint>, recv: Option<Endpoint>) -> Self {
        Connection {
            send,
            recv,
            peer: PresenceCache::new(),
            _t: PhantomData,
        }
    }

    /// Creates the first end of a named pipe, for an unrelated program: it passes
    /// [`peer_name`](Self::peer_name) to [`Connection::open`] and becomes the second end.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Connection;
    ///
    /// let first = Connection::<u64>::create_named("doc-pipe", true)?;
    /// let second = Connection::<u64>::open(&first.peer_name().unwrap())?; // in another program
    /// second.send(42)?;
    /// assert_eq!(first.recv()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(prefix: &str, duplex: bool) -> Result<Self, Error> {
        Self::create_named_with_capacity(prefix, duplex, PIPE_CAPACITY)
    }

    /// [`create_named`](Self::create_named) with `bytes` of shared memory per direction
    /// instead of [`PIPE_CAPACITY`]: also the largest message (as
    /// [`pipe_with_capacity`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Connection;
    ///
    /// let first = Connection::<Vec<u8>>::create_named_with_capacity("doc-big", false, 8 << 20)?;
    /// let second = Connection::<Vec<u8>>::open(&first.peer_name().unwrap())?;
    /// second.send(vec![1; 2 << 20])?; // 2 MiB: too large for the default 1 MiB pipe
    /// assert_eq!(first.recv()?.len(), 2 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named_with_capacity(
        prefix: &str,
        duplex: bool,
        bytes: usize,
    ) -> Result<Self, Error> {
        let named = || -> Result<Ring, Error> {
            tagged::<T>(
                QueueBuilder::default()
                    .capacity(bytes)
                    .create_ring(Some(prefix))?,
            )
        };
        let recv = Endpoint::new(named()?, false, true)?;
        let send = if duplex {
            Some(Endpoint::new(named()?, true, false)?)
        } else {
            None
        };
        Ok(Connection::from_parts(send, Some(recv)))
    }

    /// The name the peer program opens with [`Connection::open`] (named pipes only).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, Connection};
    ///
    /// let first = Connection::<u8>::create_named("doc-peer", false)?;
    /// let name = first.peer_name().unwrap(); // "send|recv" as the peer sees it
    /// assert!(name.ends_with('|')); // simplex: the peer only sends
    /// let (a, _b) = pipe::<u8>(true)?;
    /// assert_eq!(a.peer_name(), None); // not a named pipe
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_name(&self) -> Option<String> {
        let to_me = self.recv.as_ref().map(|e| e.ring.name());
        let from_me = self.send.as_ref().map(|e| e.ring.name());
        let part = |n: Option<Option<&str>>| -> Option<String> {
            match n {
                None => Some(String::new()),
                Some(Some(n)) => Some(n.to_string()),
                Some(None) => None,
            }
        };
        // The peer sends on the ring I receive from, and receives on the one I send to.
        Some(format!("{}|{}", part(to_me)?, part(from_me)?))
    }

    /// Opens the peer end of a named pipe from its [`peer_name`](Self::peer_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Connection;
    ///
    /// let first = Connection::<String>::create_named("doc-open", true)?;
    /// let second = Connection::<String>::open(&first.peer_name().unwrap())?; // in another program
    /// first.send("hi".to_string())?;
    /// assert_eq!(second.recv()?, "hi");
    /// assert!(Connection::<String>::open("not a pipe name").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Self, Error> {
        let (send, recv) = name
            .split_once('|')
            .ok_or_else(|| Error::handle(format!("{name:?} is not a pipe name (send|recv)")))?;
        if !send.is_empty() && send == recv {
            return Err(Error::handle(format!(
                "{name:?} names one ring for both directions"
            )));
        }
        let ring = |n: &str| (!n.is_empty()).then(|| Ring::open_named(n)).transpose();
        Self::attach(ring(send)?, ring(recv)?)
    }

    /// The fds and sizes a spawned child needs for [`Connection::from_handle`]. A closed
    /// direction is left out, so a closed end's handle names neither ring and
    /// `from_handle` refuses it (Python refuses to pass a closed `Connection`).
    ///
    /// A child that mp-process starts with these fds (`pass_fd`) counts as present from
    /// its start, so this end may be dropped right after `start`, as Python's examples
    /// close their copy; see the crate docs, "Reaching another process".
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, Connection, ConnectionHandle};
    ///
    /// let (a, _b) = pipe::<u8>(false)?;
    /// let h = a.handle(); // the first end of a simplex pipe only receives
    /// assert!(h.send.is_none() && h.recv.is_some());
    /// let text = h.to_string(); // ";fd:size", for a spawned child's argument
    /// assert_eq!(text.parse::<ConnectionHandle>()?, h);
    /// a.close();
    /// assert!(Connection::<u8>::from_handle(a.handle()).is_err()); // closed: nothing to pass
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> ConnectionHandle {
        ConnectionHandle {
            send: self
                .send
                .as_ref()
                .filter(|e| e.can_send())
                .map(|e| e.ring.handle()),
            recv: self
                .recv
                .as_ref()
                .filter(|e| e.can_recv())
                .map(|e| e.ring.handle()),
        }
    }

    /// Attaches in a spawned child, taking the same roles as the end the handle came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, Connection};
    ///
    /// let (a, b) = pipe::<u8>(true)?;
    /// // In a spawned child that inherited the fds (here, the same process):
    /// let child_end = Connection::<u8>::from_handle(b.handle().to_string().parse()?)?;
    /// a.send(1)?;
    /// assert_eq!(child_end.recv()?, 1);
    /// child_end.send(2)?;
    /// assert_eq!(a.recv()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: ConnectionHandle) -> Result<Self, Error> {
        if handle.send.is_some() && handle.send == handle.recv {
            return Err(Error::handle(format!(
                "{handle} names one ring for both directions"
            )));
        }
        let ring = |h: Option<SegmentHandle>| h.map(Ring::from_handle).transpose();
        Self::attach(ring(handle.send)?, ring(handle.recv)?)
    }

    /// Takes this end's roles on the rings of [`open`](Self::open) or
    /// [`from_handle`](Self::from_handle), once both are known to be pipe rings: a role
    /// taken and dropped again would count as a peer that came and went. (Taking the
    /// second role can still fail after the first, out of file descriptors: the peer then
    /// sees that.)
    fn attach(send: Option<Ring>, recv: Option<Ring>) -> Result<Self, Error> {
        if send.is_none() && recv.is_none() {
            return Err(Error::handle(
                "the name or handle names neither ring (was the end closed?)",
            ));
        }
        for ring in send.iter().chain(&recv) {
            check_tag(ring, TAG_PIPE)?;
            check_shape::<T>(ring)?;
        }
        let send = send.map(|r| Endpoint::new(r, true, false)).transpose()?;
        let recv = recv.map(|r| Endpoint::new(r, false, true)).transpose()?;
        Ok(Connection::from_parts(send, recv))
    }

    fn sender(&self) -> Result<&Endpoint, Error> {
        self.send
            .as_ref()
            .ok_or_else(|| Error::handle("this end of a simplex pipe only receives"))
    }

    /// True unless the peer end is known to be gone: asked when a handle of the ring
    /// closed, and otherwise at most every few milliseconds (see [`PresenceCache`]), so a
    /// peer killed without closing is noticed too.
    fn peer_present(&self, ep: &Endpoint) -> bool {
        !self.peer.consumers_gone(&ep.ring)
    }

    /// Sends `value`, waiting while the pipe is full. [`PutError::Closed`] if the peer end
    /// is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, PutError};
    ///
    /// let (a, b) = pipe::<String>(true)?;
    /// a.send("hello".to_string())?;
    /// assert_eq!(b.recv()?, "hello");
    /// drop(b);
    /// assert_eq!(a.send("anyone?".to_string()), Err(PutError::Closed("anyone?".to_string())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, value: T) -> Result<(), PutError<T>> {
        self.send_wait(value, Wait::Until(None))
    }

    /// [`send`](Self::send) only if there is room now ([`PutError::Full`] otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe_with_capacity, PutError};
    ///
    /// let (a, b) = pipe_with_capacity::<Vec<u8>>(false, 1024)?;
    /// b.try_send(vec![1; 600])?;
    /// assert_eq!(b.try_send(vec![2; 600]), Err(PutError::Full(vec![2; 600]))); // no room
    /// assert!(matches!(a.try_send(vec![3]), Err(PutError::Failed { .. }))); // `a` only receives
    /// drop(a);
    /// assert_eq!(b.try_send(vec![4]), Err(PutError::Closed(vec![4])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), PutError<T>> {
        self.send_wait(value, Wait::No)
    }

    /// [`send`](Self::send) waiting at most `timeout` for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe_with_capacity, PutError};
    /// use std::time::Duration;
    ///
    /// let (a, b) = pipe_with_capacity::<Vec<u8>>(false, 1024)?;
    /// b.send_timeout(vec![1; 600], Duration::from_millis(10))?;
    /// let e = b.send_timeout(vec![2; 600], Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, PutError::Timeout(vec![2; 600]));
    /// drop(a);
    /// let e = b.send_timeout(vec![3], Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, PutError::Closed(vec![3]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.send_wait(value, Wait::timeout(timeout))
    }

    /// [`send`](Self::send) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::pipe;
    /// use std::time::{Duration, Instant};
    ///
    /// let (a, b) = pipe::<u32>(true)?;
    /// a.send_deadline(5, Instant::now() + Duration::from_secs(1))?;
    /// assert_eq!(b.recv()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.send_wait(value, Wait::Until(Some(deadline)))
    }

    fn send_wait(&self, value: T, wait: Wait) -> Result<(), PutError<T>> {
        let ep = match self.sender() {
            Ok(ep) => ep,
            Err(error) => return Err(PutError::Failed { value, error }),
        };
        if !self.peer_present(ep) {
            return Err(PutError::Closed(value));
        }
        ep.put(value, wait)
    }

    /// Sends raw bytes (the peer reads them with [`recv_bytes`](Self::recv_bytes)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, PutError};
    ///
    /// let (a, b) = pipe::<()>(false)?;
    /// b.send_bytes(b"raw frame")?;
    /// assert_eq!(a.recv_bytes()?, b"raw frame");
    /// drop(a);
    /// assert_eq!(b.send_bytes(b"gone"), Err(PutError::Closed(())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), PutError<()>> {
        let ep = self
            .sender()
            .map_err(|error| PutError::Failed { value: (), error })?;
        if !self.peer_present(ep) {
            return Err(PutError::Closed(()));
        }
        ep.put_bytes(bytes, Wait::Until(None))
    }

    fn receiver(&self) -> Result<&Endpoint, GetError> {
        self.recv
            .as_ref()
            .ok_or_else(|| GetError::Failed(Error::handle("this end of a simplex pipe only sends")))
    }

    /// Closes this end, as Python's `Connection.close()`: its later sends fail with
    /// [`PutError::Closed`] and its receives with [`GetError::Closed`], and the peer end
    /// sees `Closed` once no handle of this end is left in any process. It takes `&self`
    /// so that a forked child can close the end it inherited and does not use (Python's
    /// advice: close the ends you do not need); dropping the end closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    /// use ipc_core::testing::{fork, reap};
    ///
    /// let (parent_end, child_end) = pipe::<u32>(true)?;
    /// let child = fork(|| {
    ///     parent_end.close(); // inherited, unused here: else it keeps the pipe open
    ///     let mut got = Vec::new();
    ///     while let Ok(v) = child_end.recv() {
    ///         got.push(v);
    ///     }
    ///     i32::from(got != [1, 2] || child_end.recv() != Err(GetError::Closed))
    /// });
    /// child_end.close();
    /// parent_end.send(1)?;
    /// parent_end.send(2)?;
    /// parent_end.close();
    /// assert_eq!(reap(child), Ok(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        // Receiving first: a peer that sees `Closed` on its receive knows this whole end
        // is closed.
        if let Some(ep) = &self.recv {
            ep.close_recv();
        }
        if let Some(ep) = &self.send {
            ep.close_send();
        }
    }

    /// Receives the next value, waiting. [`GetError::Closed`] once the peer end is gone
    /// and everything it sent was received.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    ///
    /// let (a, b) = pipe::<u32>(true)?;
    /// b.send(7)?;
    /// b.send(8)?;
    /// assert_eq!(a.recv()?, 7);
    /// drop(b); // what it sent is still received
    /// assert_eq!(a.recv()?, 8);
    /// assert_eq!(a.recv(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<T, GetError> {
        self.recv_wait(Wait::Until(None))
    }

    /// [`recv`](Self::recv) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    /// use std::time::Duration;
    ///
    /// let (a, b) = pipe::<u32>(true)?;
    /// assert_eq!(a.recv_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// b.send(1)?;
    /// assert_eq!(a.recv_timeout(Duration::from_millis(10))?, 1);
    /// drop(b);
    /// assert_eq!(a.recv_timeout(Duration::from_millis(10)), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.recv_wait(Wait::timeout(timeout))
    }

    /// [`recv`](Self::recv) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    /// use std::time::{Duration, Instant};
    ///
    /// let (a, b) = pipe::<u32>(true)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(b.recv_deadline(soon), Err(GetError::Timeout));
    /// drop(a);
    /// assert_eq!(b.recv_deadline(soon), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.recv_wait(Wait::Until(Some(deadline)))
    }

    /// [`recv`](Self::recv) only if a value is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    ///
    /// let (a, b) = pipe::<u32>(true)?;
    /// assert_eq!(a.try_recv(), Err(GetError::Empty));
    /// b.send(1)?;
    /// assert_eq!(a.try_recv()?, 1);
    /// drop(b);
    /// assert_eq!(a.try_recv(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<T, GetError> {
        self.recv_wait(Wait::No)
    }

    fn recv_wait(&self, wait: Wait) -> Result<T, GetError> {
        self.receiver()?.get(wait)
    }

    /// Receives the next message's raw bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    ///
    /// let (a, b) = pipe::<()>(false)?;
    /// b.send_bytes(b"frame")?;
    /// drop(b); // what it sent is still received
    /// assert_eq!(a.recv_bytes()?, b"frame");
    /// assert_eq!(a.recv_bytes(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.recv_bytes_wait(Wait::Until(None))
    }

    /// [`recv_bytes`](Self::recv_bytes) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    /// use std::time::Duration;
    ///
    /// let (a, b) = pipe::<()>(false)?;
    /// assert_eq!(a.recv_bytes_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// b.send_bytes(b"frame")?;
    /// assert_eq!(a.recv_bytes_timeout(Duration::from_millis(10))?, b"frame");
    /// drop(b);
    /// assert_eq!(a.recv_bytes_timeout(Duration::from_millis(10)), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, GetError> {
        self.recv_bytes_wait(Wait::timeout(timeout))
    }

    /// [`recv_bytes`](Self::recv_bytes) only if a message is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, GetError};
    ///
    /// let (a, b) = pipe::<()>(false)?;
    /// assert_eq!(a.try_recv_bytes(), Err(GetError::Empty));
    /// b.send_bytes(b"frame")?;
    /// assert_eq!(a.try_recv_bytes()?, b"frame");
    /// drop(b);
    /// assert_eq!(a.try_recv_bytes(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.recv_bytes_wait(Wait::No)
    }

    fn recv_bytes_wait(&self, wait: Wait) -> Result<Vec<u8>, GetError> {
        Ok(self.receiver()?.pop(wait)?.to_vec())
    }

    /// Receives the next message into `buf`, returning its length. A message longer than
    /// `buf` comes back whole in [`RecvIntoError::BufferTooShort`] (Python's
    /// `BufferTooShort`), so it is not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{pipe, RecvIntoError};
    ///
    /// let (a, b) = pipe::<()>(false)?;
    /// b.send_bytes(b"0123456789")?;
    /// let mut small = [0u8; 4];
    /// match a.recv_bytes_into(&mut small) {
    ///     Err(RecvIntoError::BufferTooShort(msg)) => assert_eq!(msg, b"0123456789"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, RecvIntoError> {
        let ep = self.receiver()?;
        let copy = |bytes: &[u8], buf: &mut [u8]| {
            if bytes.len() > buf.len() {
                return Err(RecvIntoError::BufferTooShort(bytes.to_vec()));
            }
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        };
        let record = ep.pop(Wait::Until(None))?;
        copy(&record, buf)
    }

    /// Waits at most `timeout` (`None`: forever) until [`recv`](Self::recv) would not
    /// block: a message is ready, or the peer is gone. Python's `poll`. On the sending end
    /// of a simplex pipe it is true at once: `recv` there fails at once (Python raises).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::pipe;
    /// use std::time::Duration;
    ///
    /// let (a, b) = pipe::<u8>(true)?;
    /// assert!(!a.poll(Some(Duration::from_millis(10))));
    /// b.send(1)?;
    /// assert!(a.poll(Some(Duration::ZERO)));
    /// assert_eq!(a.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> bool {
        let Ok(ep) = self.receiver() else {
            return true; // a send-only end: recv fails at once, so it would not block
        };
        let wait = match timeout {
            Some(t) => Wait::timeout(t),
            None => Wait::Until(None),
        };
        // The message stays in the ring, as Python's stays in the OS pipe: a child forked
        // after this poll shares it with this process, and one of them receives it.
        match ep.ready(wait) {
            Ok(()) => true,
            Err(GetError::Empty | GetError::Timeout) => false,
            Err(_) => true, // closed or broken: recv will say so at once
        }
    }
}

/// The fds and sizes of a [`Connection`]'s rings, for a spawned child. `Display` gives
/// `send;recv` with each side `fd:size` or empty; `str::parse` reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionHandle {
    /// The ring this end sends on.
    pub send: Option<SegmentHandle>,
    /// The ring this end receives from.
    pub recv: Option<SegmentHandle>,
}

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |h: &Option<SegmentHandle>| h.map(|h| h.to_string()).unwrap_or_default();
        write!(f, "{};{}", side(&self.send), side(&self.recv))
    }
}

impl FromStr for ConnectionHandle {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (send, recv) = s
            .split_once(';')
            .ok_or_else(|| Error::handle(format!("{s:?} is not a connection handle")))?;
        let side = |p: &str| -> Result<Option<SegmentHandle>, Error> {
            if p.is_empty() {
                return Ok(None);
            }
            p.parse::<SegmentHandle>().map(Some).map_err(Error::from)
        };
        Ok(ConnectionHandle {
            send: side(send)?,
            recv: side(recv)?,
        })
    }
}
