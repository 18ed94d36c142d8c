//! `ByteQueue`: a queue of raw byte frames, no serialization; messages can be read in
//! place (`get_ref`) and written in place (`reserve`, then `commit`).

use std::fmt;
use std::time::{Duration, Instant};

use ipc_core::ring::{ReadGuard, Ring, WriteSlot};
use ipc_core::segment::SegmentHandle;

use crate::endpoint::{Endpoint, Wait};
use crate::error::{Error, GetError, PutError};
use crate::iter::{Iter, Source};
use crate::message::Encode;
use crate::queue::{check_header, check_tag, set_tag, take_many, QueueBuilder, TAG_QUEUE};

/// A queue of raw byte messages (frames), no serialization: Python's `send_bytes`-style
/// traffic, and the fastest path.
///
/// # Examples
///
/// ```
/// use mp_queue::ByteQueue;
///
/// let q = ByteQueue::new()?;
/// q.put(b"frame one")?;
/// assert_eq!(&*q.get_ref()?, b"frame one"); // in place
/// q.put(b"frame two")?;
/// assert_eq!(q.get()?, b"frame two".to_vec());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ByteQueue {
    ep: Endpoint,
}

impl fmt::Debug for ByteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteQueue")
            .field("ring", &self.ep.ring)
            .finish()
    }
}

impl ByteQueue {
    /// A byte queue with the default options.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"frame")?;
    /// assert_eq!(q.get()?, b"frame");
    /// assert_eq!(q.capacity(), 1 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<ByteQueue, Error> {
        Self::with(QueueBuilder::default(), None)
    }

    /// A byte queue with `builder`'s options; named (for [`ByteQueue::open`]) when
    /// `prefix` is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().capacity(4096), Some("doc-bytes"))?;
    /// assert_eq!(q.capacity(), 4096);
    /// assert!(q.name().unwrap().starts_with("/doc-bytes-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with(builder: QueueBuilder, prefix: Option<&str>) -> Result<ByteQueue, Error> {
        let ring = builder.create_ring(prefix)?;
        set_tag(&ring, TAG_QUEUE);
        Self::attach(ring)
    }

    fn attach(ring: Ring) -> Result<ByteQueue, Error> {
        check_tag(&ring, TAG_QUEUE)?;
        Ok(ByteQueue {
            ep: Endpoint::new(ring, true, true)?,
        })
    }

    /// Opens a named byte queue (or a named [`Queue`](crate::Queue), read as bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let typed: Queue<u64> = Queue::builder().create_named("doc-bytes-open")?;
    /// let raw = ByteQueue::open(typed.name().unwrap())?;
    /// typed.put(7)?;
    /// assert_eq!(raw.get()?, 7u64.to_le_bytes()); // a u64's archive is its own bytes
    /// assert!(ByteQueue::open("/no-such-queue").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<ByteQueue, Error> {
        Self::attach(Ring::open_named(name)?)
    }

    /// Attaches from a handle (see [`Queue::handle`](crate::Queue::handle)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// let text = q.handle().to_string(); // "fd:size", for a spawned child
    /// // In the child, which inherited the fd (here, the same process):
    /// let child_side = ByteQueue::from_handle(text.parse()?)?;
    /// child_side.put(b"frame")?;
    /// assert_eq!(q.get()?, b"frame");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<ByteQueue, Error> {
        Self::attach(Ring::from_handle(handle)?)
    }

    /// Another handle on the same queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// let writer = q.try_clone()?; // a writer of its own
    /// q.close();
    /// writer.put(b"frame")?;
    /// drop(writer); // the last writer
    /// assert_eq!(q.get()?, b"frame");
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<ByteQueue, Error> {
        Ok(ByteQueue {
            ep: self.ep.try_clone()?,
        })
    }

    /// Puts a copy of `bytes`, waiting for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().capacity(1024), None)?;
    /// q.put(b"frame")?;
    /// assert_eq!(q.get()?, b"frame");
    /// let e = q.put(&[0; 2048]).unwrap_err();
    /// assert_eq!(e, PutError::TooLarge { value: (), len: 2048, max: 1024 });
    /// q.close();
    /// assert_eq!(q.put(b"late"), Err(PutError::Closed(())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, bytes: &[u8]) -> Result<(), PutError<()>> {
        self.ep.put_bytes(bytes, Wait::Until(None))
    }

    /// Puts, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.put_timeout(b"one", Duration::from_millis(10))?;
    /// let e = q.put_timeout(b"two", Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, PutError::Timeout(()));
    /// q.close();
    /// let e = q.put_timeout(b"three", Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, PutError::Closed(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<(), PutError<()>> {
        self.ep.put_bytes(bytes, Wait::timeout(timeout))
    }

    /// [`put`](Self::put) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// q.put_deadline(b"one", soon)?;
    /// assert!(matches!(q.put_deadline(b"two", soon), Err(PutError::Timeout(()))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_deadline(&self, bytes: &[u8], deadline: Instant) -> Result<(), PutError<()>> {
        self.ep.put_bytes(bytes, Wait::Until(Some(deadline)))
    }

    /// Puts only if there is room now.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.try_put(b"one")?;
    /// assert_eq!(q.try_put(b"two"), Err(PutError::Full(())));
    /// assert_eq!(q.get()?, b"one");
    /// q.close();
    /// assert_eq!(q.try_put(b"three"), Err(PutError::Closed(())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_put(&self, bytes: &[u8]) -> Result<(), PutError<()>> {
        self.ep.put_bytes(bytes, Wait::No)
    }

    /// Claims room for a `len`-byte message and lends it out, to be written in place and
    /// then [`commit`](WriteSlot::commit)ted: the put that copies nothing. `put` copies
    /// its bytes once into the queue; a producer that makes its message (reads it from a
    /// file or socket, fills it, encodes it) can make it here instead, in shared memory.
    /// Waits for room as [`put`](Self::put) does.
    ///
    /// - The slot starts with whatever bytes an earlier message left there.
    /// - Dropped without a commit, including by a panic unwinding past it, nothing is put.
    /// - [`commit_len`](WriteSlot::commit_len) puts only the first bytes, for a message
    ///   whose size was an upper bound (a longer length is cut to the slot's). The whole
    ///   reservation stays taken until the message is got, so `reserve(q.capacity())`
    ///   waits for an empty queue.
    /// - `reserve(0)` is valid, and its commit puts an empty message.
    /// - A held slot is a message already: `qsize`, `empty` and `full` count it.
    ///
    /// # Hold a slot briefly
    ///
    /// Messages are taken in order: getters, in every process, reach a held slot and wait
    /// for it, and the messages put after it wait behind it. So, while this process holds a
    /// slot:
    /// - a `get` here waits for good once the slot is next (`get_timeout` times out and
    ///   `try_get` finds nothing, even with later messages in the queue);
    /// - a `put` or `reserve` here waits for good once the queue is full behind it.
    ///
    /// Commit or drop the slot first. A slot leaked with `std::mem::forget` holds up every
    /// getter until this process exits. A process that dies holding a slot loses only that
    /// message: getters pass it once they find its owner dead, within tens of
    /// milliseconds.
    ///
    /// # Errors
    ///
    /// As `put`: [`PutError::TooLarge`] for a `len` over the capacity;
    /// [`PutError::Closed`] once this handle is [`close`](Self::close)d;
    /// [`PutError::Failed`] when the shared memory is corrupted or the queue has no
    /// slot left for another process.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// let mut slot = q.reserve(8)?;
    /// slot.copy_from_slice(&7u64.to_le_bytes()); // written straight into shared memory
    /// assert_eq!(q.qsize(), 1); // counted while held, taken once committed
    /// slot.commit();
    /// assert_eq!(*q.get_ref()?, 7u64.to_le_bytes());
    ///
    /// let mut slot = q.reserve(1024)?; // an upper bound
    /// slot[..5].copy_from_slice(b"short");
    /// slot.commit_len(5);
    /// assert_eq!(q.get()?, b"short");
    ///
    /// drop(q.reserve(8)?); // not committed: nothing is put
    /// assert!(q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve(&self, len: usize) -> Result<WriteSlot<'_>, PutError<()>> {
        self.ep.reserve(len, Wait::Until(None))
    }

    /// [`reserve`](Self::reserve), waiting at most `timeout` for room, then
    /// [`PutError::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_queue::{ByteQueue, PutError, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.reserve_timeout(8, Duration::from_millis(10))?.commit();
    /// let e = q.reserve_timeout(8, Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(e, PutError::Timeout(())), "full");
    /// q.close();
    /// let e = q.reserve_timeout(8, Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(e, PutError::Closed(())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<WriteSlot<'_>, PutError<()>> {
        self.ep.reserve(len, Wait::timeout(timeout))
    }

    /// [`reserve`](Self::reserve) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    /// use std::time::{Duration, Instant};
    ///
    /// let q = ByteQueue::new()?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// let mut slot = q.reserve_deadline(3, soon)?;
    /// slot.copy_from_slice(b"abc");
    /// slot.commit();
    /// assert_eq!(q.get()?, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_deadline(
        &self,
        len: usize,
        deadline: Instant,
    ) -> Result<WriteSlot<'_>, PutError<()>> {
        self.ep.reserve(len, Wait::Until(Some(deadline)))
    }

    /// [`reserve`](Self::reserve) only if there is room now, else [`PutError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.try_reserve(8)?.commit();
    /// assert!(matches!(q.try_reserve(8), Err(PutError::Full(()))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&self, len: usize) -> Result<WriteSlot<'_>, PutError<()>> {
        self.ep.reserve(len, Wait::No)
    }

    /// Puts one record made of `header` (raw bytes, a multiple of 16 long) followed by
    /// `value` serialized with rkyv, written straight into shared memory. The reader finds
    /// the archive at `&record[header.len()..]` (see [`access`](crate::access)). This is
    /// how mp-pool frames its tasks: a fixed header, then typed arguments, one copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// q.put_framed(&[9; 16], &String::from("typed tail"), None)?;
    /// let rec = q.get_ref()?;
    /// assert_eq!(rec[..16], [9; 16]);
    /// let s = mp_queue::access::<String>(&rec[16..])?;
    /// assert_eq!(s.as_str(), "typed tail");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A header whose length is not a multiple of 16 is refused with
    /// [`PutError::Failed`] (the archive after it would be misaligned).
    pub fn put_framed<T: Encode>(
        &self,
        header: &[u8],
        value: &T,
        timeout: Option<Duration>,
    ) -> Result<(), PutError<()>> {
        check_header(header)?;
        let wait = timeout.map_or(Wait::Until(None), Wait::timeout);
        self.ep.put_framed(header, value, wait)
    }

    /// [`put_framed`](Self::put_framed) only if there is room now.
    ///
    /// A header whose length is not a multiple of 16 is refused, as in `put_framed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, PutError, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.try_put_framed(&[1; 16], &7u32)?;
    /// assert_eq!(q.try_put_framed(&[2; 16], &8u32), Err(PutError::Full(())));
    /// let e = q.try_put_framed(&[3; 5], &9u32).unwrap_err(); // not a multiple of 16
    /// assert!(matches!(e, PutError::Failed { .. }));
    /// assert_eq!(q.get()?.len(), 16 + 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_put_framed<T: Encode>(&self, header: &[u8], value: &T) -> Result<(), PutError<()>> {
        check_header(header)?;
        self.ep.put_framed(header, value, Wait::No)
    }

    /// Puts every message in order, waiting for room as needed. On an error, its value is
    /// how many messages were put before the one that failed; the rest are not put.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(2), None)?;
    /// assert_eq!(q.put_many([&b"one"[..], b"two"])?, 2);
    /// let mut got = Vec::new();
    /// assert_eq!(q.get_many(&mut got, 10)?, 2);
    /// assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_many<I>(&self, messages: I) -> Result<usize, PutError<usize>>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut n = 0;
        for m in messages {
            self.put(m.as_ref()).map_err(|e| e.map_value(|()| n))?;
            n += 1;
        }
        Ok(n)
    }

    /// Takes the next message into a new `Vec`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"frame")?;
    /// q.close(); // the only writer
    /// assert_eq!(q.get()?, b"frame");
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<Vec<u8>, GetError> {
        Ok(self.get_ref()?.to_vec())
    }

    /// Waits for one message, then takes up to `max` in all without waiting again, each
    /// into a new `Vec` appended to `out`; returns how many (as
    /// [`Queue::get_many`](crate::Queue::get_many); `max` 0: none, at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put_many([&b"a"[..], b"b", b"c"])?;
    /// let mut got = Vec::new();
    /// assert_eq!(q.get_many(&mut got, 2)?, 2);
    /// assert_eq!(q.get_many(&mut got, 10)?, 1); // only what is ready
    /// assert_eq!(got, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    /// q.close();
    /// assert_eq!(q.get_many(&mut got, 10), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many(&self, out: &mut Vec<Vec<u8>>, max: usize) -> Result<usize, GetError> {
        take_many(out, max, || self.get(), || self.qsize(), || self.try_get())
    }

    /// Takes the next message into a new `Vec`, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    /// use std::time::Duration;
    ///
    /// let q = ByteQueue::new()?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// q.put(b"frame")?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(10))?, b"frame");
    /// q.close();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>, GetError> {
        Ok(self.ep.pop(Wait::timeout(timeout))?.to_vec())
    }

    /// [`get`](Self::get) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    /// use std::time::{Duration, Instant};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"frame")?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(q.get_deadline(soon)?, b"frame");
    /// assert_eq!(q.get_deadline(soon), Err(GetError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Result<Vec<u8>, GetError> {
        Ok(self.ep.pop(Wait::Until(Some(deadline)))?.to_vec())
    }

    /// Takes the next message if one is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// assert_eq!(q.try_get(), Err(GetError::Empty));
    /// q.put(b"frame")?;
    /// assert_eq!(q.try_get()?, b"frame");
    /// q.close();
    /// assert_eq!(q.try_get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get(&self) -> Result<Vec<u8>, GetError> {
        Ok(self.ep.pop(Wait::No)?.to_vec())
    }

    /// Takes messages as they come, waiting for each, until the queue is drained and no
    /// writer is left: crossbeam's `iter`, as [`Queue::iter`](crate::Queue::iter). Each is
    /// copied out; for zero-copy reads loop on [`get_ref`](Self::get_ref).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"one")?;
    /// q.put(b"two")?;
    /// q.close(); // the only writer
    /// let got: Vec<Vec<u8>> = q.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, Vec<u8>, Self> {
        Iter::new(self, Wait::Until(None))
    }

    /// Takes the messages that are ready now, without waiting: crossbeam's `try_iter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"ready")?;
    /// assert_eq!(q.try_iter().count(), 1);
    /// assert_eq!(q.try_iter().count(), 0); // empty: ends at once, the queue stays open
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> Iter<'_, Vec<u8>, Self> {
        Iter::new(self, Wait::No)
    }

    /// Takes the next message in place (zero-copy); its space is freed when the guard drops.
    /// Hold it briefly, as [`Queue::get_ref`](crate::Queue::get_ref)'s guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"frame")?;
    /// q.close(); // the only writer
    /// assert_eq!(*q.get_ref()?, *b"frame"); // no copy; freed when the guard drops
    /// assert_eq!(q.get_ref().unwrap_err(), GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_ref(&self) -> Result<ReadGuard<'_>, GetError> {
        self.ep.pop(Wait::Until(None))
    }

    /// [`get_ref`](Self::get_ref) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    /// use std::time::Duration;
    ///
    /// let q = ByteQueue::new()?;
    /// let e = q.get_ref_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, GetError::Timeout);
    /// q.put(b"frame")?;
    /// assert_eq!(*q.get_ref_timeout(Duration::from_millis(10))?, *b"frame");
    /// q.close();
    /// let e = q.get_ref_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_ref_timeout(&self, timeout: Duration) -> Result<ReadGuard<'_>, GetError> {
        self.ep.pop(Wait::timeout(timeout))
    }

    /// [`get_ref`](Self::get_ref) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    /// use std::time::{Duration, Instant};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"frame")?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(&*q.get_ref_deadline(soon)?, b"frame");
    /// assert!(matches!(q.get_ref_deadline(soon), Err(GetError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref_deadline(&self, deadline: Instant) -> Result<ReadGuard<'_>, GetError> {
        self.ep.pop(Wait::Until(Some(deadline)))
    }

    /// [`get_ref`](Self::get_ref) if a message is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError};
    ///
    /// let q = ByteQueue::new()?;
    /// assert_eq!(q.try_get_ref().unwrap_err(), GetError::Empty);
    /// q.put(b"frame")?;
    /// assert_eq!(*q.try_get_ref()?, *b"frame");
    /// q.close();
    /// assert_eq!(q.try_get_ref().unwrap_err(), GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_get_ref(&self) -> Result<ReadGuard<'_>, GetError> {
        self.ep.pop(Wait::No)
    }

    /// Messages in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"one")?;
    /// q.put(b"two")?;
    /// assert_eq!(q.qsize(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.ep.ring.len()
    }

    /// True when no message is in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// assert!(q.empty());
    /// q.put(b"")?; // an empty message is a message
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when the queue holds `maxsize` messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(1), None)?;
    /// assert!(!q.full());
    /// q.put(b"one")?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.ep.ring.is_full()
    }

    /// The most messages the queue holds at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().maxsize(10), None)?;
    /// assert_eq!(q.maxsize(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.ep.ring.maxsize()
    }

    /// Bytes of message space; also the largest message.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder().capacity(1000), None)?;
    /// assert_eq!(q.capacity(), 1024); // rounded up to a power of two
    /// q.put(&[0; 1024])?; // the largest message
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ep.ring.capacity()
    }

    /// Ends putting through this handle (see [`Queue::close`](crate::Queue::close)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, GetError, PutError};
    ///
    /// let q = ByteQueue::new()?;
    /// q.put(b"one")?;
    /// q.close();
    /// assert_eq!(q.put(b"two"), Err(PutError::Closed(())));
    /// assert_eq!(q.get()?, b"one"); // this handle can still get
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.ep.close_send();
    }

    /// The name of a named queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{ByteQueue, Queue};
    ///
    /// let q = ByteQueue::with(Queue::builder(), Some("doc-bytes-name"))?;
    /// assert!(q.name().unwrap().starts_with("/doc-bytes-name-"));
    /// assert_eq!(ByteQueue::new()?.name(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.ep.ring.name()
    }

    /// The handle for a spawned child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::ByteQueue;
    ///
    /// let q = ByteQueue::new()?;
    /// let h = q.handle();
    /// assert_eq!(h.to_string(), format!("{}:{}", h.fd, h.size));
    /// let same = ByteQueue::from_handle(h)?; // as a spawned child does
    /// same.put(b"frame")?;
    /// assert_eq!(q.qsize(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.ep.ring.handle()
    }
}

impl Source for ByteQueue {
    type Item = Vec<u8>;
    fn pull(&self, wait: Wait) -> Result<Vec<u8>, GetError> {
        Ok(self.ep.pop(wait)?.to_vec())
    }
}

impl<'a> IntoIterator for &'a ByteQueue {
    type Item = Result<Vec<u8>, GetError>;
    type IntoIter = Iter<'a, Vec<u8>, ByteQueue>;

    /// [`ByteQueue::iter`].
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
