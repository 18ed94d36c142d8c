//! `Queue<T>`: Python's `multiprocessing.Queue` over one shared ring, typed with rkyv; its
//! builder, the in-place read guard `Ref`, and the helpers the other queue kinds share.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::ring::{ReadGuard, Ring, RingBuilder, SPARE_DESCRIPTORS};
use ipc_core::segment::SegmentHandle;

use crate::endpoint::{Endpoint, Wait};
use crate::error::{Error, GetError, PutError};
use crate::iter::{Iter, Source};
use crate::message::{self, Message};

/// Default capacity in bytes.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// The ring's user words, as every queue kind uses them: 0 holds the tag below, 1 to 3
/// a `JoinableQueue`'s task counts (joinable.rs), and this one the item type's shape
/// ([`set_shape`]).
const WORD_SHAPE: usize = 4;

/// Tags in user word 0 of the ring: which flavour of queue a segment holds, so that opening
/// a pipe's handle as a queue (or the reverse) is a clear error.
pub(crate) const TAG_QUEUE: u32 = 0x5155_4555; // "QUEU"
pub(crate) const TAG_JOINABLE: u32 = 0x4A51_5545; // "JQUE"
pub(crate) const TAG_PIPE: u32 = 0x5049_5045; // "PIPE"

/// Options for a new queue: [`Queue::builder`].
///
/// # Examples
///
/// ```
/// use mp_queue::Queue;
///
/// let q: Queue<String> = Queue::builder().maxsize(100).capacity(1 << 16).create()?;
/// assert_eq!(q.maxsize(), 100);
/// # Ok::<(), mp_queue::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct QueueBuilder {
    maxsize: usize,
    capacity: usize,
    processes: usize,
}

impl Default for QueueBuilder {
    fn default() -> Self {
        QueueBuilder {
            maxsize: 0,
            capacity: DEFAULT_CAPACITY,
            processes: 128,
        }
    }
}

impl QueueBuilder {
    /// Most items at once. `0` (the default, as Python's) means about one item per 128
    /// bytes of capacity, between 60 and 2^20 - 4: 8188 for the default 1 MiB, a power of two
    /// less the ring's [`SPARE_DESCRIPTORS`](ipc_core::ring::SPARE_DESCRIPTORS), which
    /// keeps the descriptors from doubling.
    ///
    /// Memory: besides the capacity, every item place has a 64-byte descriptor (the number
    /// of places is `maxsize + 4` rounded up to a power of two), where small items (up to
    /// 32 bytes serialized) live whole. The default queue takes 1.5 MiB of shared memory:
    /// 1 MiB of capacity and 8192 descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u8> = Queue::builder().maxsize(2).create()?;
    /// assert_eq!(q.maxsize(), 2);
    /// assert_eq!(Queue::<u8>::new()?.maxsize(), 8188); // the default for 1 MiB
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(mut self, items: usize) -> Self {
        self.maxsize = items;
        self
    }

    /// Bytes of shared memory for messages (default 1 MiB), rounded up to a power of two
    /// ([`Queue::capacity`] tells the result). A serialized message larger than that is
    /// refused with [`PutError::TooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<Vec<u8>> = Queue::builder().capacity(1000).create()?;
    /// assert_eq!(q.capacity(), 1024); // rounded up to a power of two
    /// let e = q.put(vec![0; 2000]).unwrap_err();
    /// assert!(matches!(e, PutError::TooLarge { max: 1024, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Most processes that may use the queue at once (default 128).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u8> = Queue::builder().processes(4).create()?;
    /// q.put(1)?; // this process is one of the 4
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n;
        self
    }

    fn ring(&self) -> RingBuilder {
        let maxsize = match self.maxsize {
            // Until 2026-11-26 one item per 64 bytes: with the 4 spare descriptors that
            // rounded up to twice as many descriptors as items, 2 MiB of them for a 1 MiB
            // queue. Now a power of two less the spares: 512 KiB of them.
            0 => (self.capacity / 128)
                .next_power_of_two()
                .clamp(64, 1 << 20)
                .saturating_sub(SPARE_DESCRIPTORS),
            n => n,
        };
        Ring::builder()
            .capacity(self.capacity)
            .maxsize(maxsize)
            .slots(self.processes)
    }

    /// Creates a queue in nameless shared memory: it reaches children by `fork` (inherited)
    /// or by [`Queue::handle`] (spawned children).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u64> = Queue::builder().maxsize(16).create()?;
    /// assert_eq!(q.maxsize(), 16);
    /// assert_eq!(q.name(), None); // nameless: reached by fork or by handle
    /// assert!(Queue::builder().capacity(0).create::<u64>().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create<T: Message>(self) -> Result<Queue<T>, Error> {
        Queue::tagged(self.ring().create()?, TAG_QUEUE)
    }

    /// Creates a queue that unrelated programs open by [`Queue::name`] with
    /// [`Queue::open`]. The name is `/{prefix}-{random}`; it is unlinked when this handle's
    /// segment is dropped by its creator.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<String> = Queue::builder().capacity(1 << 16).create_named("doc-named")?;
    /// let name = q.name().unwrap();
    /// assert!(name.starts_with("/doc-named-"));
    /// let other: Queue<String> = Queue::open(name)?; // in another program
    /// other.put("hi".to_string())?;
    /// assert_eq!(q.get()?, "hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named<T: Message>(self, prefix: &str) -> Result<Queue<T>, Error> {
        Queue::tagged(self.ring().create_named(prefix)?, TAG_QUEUE)
    }

    pub(crate) fn create_ring(&self, named: Option<&str>) -> Result<Ring, Error> {
        Ok(match named {
            Some(prefix) => self.ring().create_named(prefix)?,
            None => self.ring().create()?,
        })
    }
}

/// A multi-producer multi-consumer queue of `T` in shared memory: Python's
/// `multiprocessing.Queue`.
///
/// `put` serializes the value (rkyv) straight into shared memory: there is no feeder
/// thread, an item is in the queue when `put` returns, and a child never has to flush
/// before exiting. `get` validates the record and deserializes it; [`get_ref`](Self::get_ref)
/// reads it in place without copying.
///
/// **Who counts as a writer.** Every handle can put until it is closed ([`close`](Self::close))
/// or dropped, or its process exits; a forked child holds the handles it inherited until
/// it closes them. Once no writer is left anywhere, `get` drains what is left and then
/// returns [`GetError::Closed`] (Python would block forever). So a process that only reads
/// closes its handle first, as in the second example.
///
/// ```
/// use mp_queue::{GetError, Queue};
/// use ipc_core::testing::{fork, reap};
///
/// let q: Queue<u32> = Queue::new()?;
/// let reader = fork(|| {
///     q.close(); // this child only reads: it gives up the writer it inherited
///     let mut sum = 0;
///     loop {
///         match q.get() {
///             Ok(v) => sum += v,
///             Err(GetError::Closed) => return i32::from(sum != 6),
///             Err(_) => return 2,
///         }
///     }
/// });
/// for v in 1..=3 {
///     q.put(v)?;
/// }
/// q.close(); // the last writer: the reader drains the queue, then sees Closed
/// assert_eq!(reap(reader), Ok(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Examples
///
/// ```
/// use mp_queue::{GetError, Queue};
/// use std::time::Duration;
///
/// let q: Queue<String> = Queue::new()?;
/// q.put("hello".to_string())?;
/// assert_eq!(q.qsize(), 1);
/// assert_eq!(q.get()?, "hello");
/// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
/// q.close(); // this was the only writer: the queue is closed
/// assert_eq!(q.get(), Err(GetError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    pub(crate) ep: Endpoint,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("ring", &self.ep.ring)
            .field("open_for_put", &self.ep.can_send())
            .finish()
    }
}

impl<T: Message> Clone for Queue<T> {
    /// Another handle on the same queue: a writer of its own, unless this handle was
    /// [`close`](Self::close)d (the clone is closed too). Panics if the process is out of
    /// file descriptors or cannot take a slot; use [`try_clone`](Self::try_clone) to
    /// handle that.
    fn clone(&self) -> Self {
        self.try_clone().expect("cannot clone the queue handle")
    }
}

impl Queue<()> {
    /// Options: maxsize, capacity, processes; the item type comes with
    /// [`create`](QueueBuilder::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::builder().maxsize(8).create()?;
    /// assert_eq!(q.maxsize(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> QueueBuilder {
        QueueBuilder::default()
    }
}

impl<T: Message> Queue<T> {
    /// A queue with the default options (capacity 1 MiB, maxsize from it).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// assert_eq!(q.capacity(), 1 << 20);
    /// assert_eq!(q.maxsize(), 8188);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Queue<T>, Error> {
        QueueBuilder::default().create()
    }

    pub(crate) fn tagged(ring: Ring, tag: u32) -> Result<Queue<T>, Error> {
        set_shape::<T>(&ring);
        set_tag(&ring, tag);
        Self::attach(ring, tag)
    }

    pub(crate) fn attach(ring: Ring, tag: u32) -> Result<Queue<T>, Error> {
        check_tag(&ring, tag)?;
        check_shape::<T>(&ring)?;
        Ok(Queue {
            ep: Endpoint::new(ring, true, true)?,
            _t: PhantomData,
        })
    }

    /// Opens a queue another program created with [`QueueBuilder::create_named`]. An
    /// error if the name is not a `Queue`'s, or names one of items archived with another
    /// size or alignment than `T`'s (see the crate docs, "Messages").
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::builder().create_named("doc-queue")?;
    /// let other: Queue<u32> = Queue::open(q.name().unwrap())?;
    /// other.put(7)?;
    /// assert_eq!(q.get()?, 7);
    /// assert!(Queue::<u32>::open("/no-such-queue").is_err());
    /// assert!(Queue::<(u64, u64)>::open(q.name().unwrap()).is_err()); // another item type
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Queue<T>, Error> {
        Self::attach(Ring::open_named(name)?, TAG_QUEUE)
    }

    /// Attaches in a spawned child from [`handle`](Self::handle) (the fd must have been
    /// inherited: see mp-process).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// let text = q.handle().to_string(); // "fd:size", for a spawned child
    /// // In the child, which inherited the fd (here, the same process):
    /// let child_side: Queue<u32> = Queue::from_handle(text.parse()?)?;
    /// child_side.put(5)?;
    /// assert_eq!(q.get()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<Queue<T>, Error> {
        Self::attach(Ring::from_handle(handle)?, TAG_QUEUE)
    }

    /// Another handle, or an error if the process is out of file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// let writer = q.try_clone()?; // a writer of its own
    /// q.close();
    /// writer.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// drop(writer); // the last writer
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Queue<T>, Error> {
        Ok(Queue {
            ep: self.ep.try_clone()?,
            _t: PhantomData,
        })
    }

    /// Puts `value`, waiting while the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// q.put("job".to_string())?;
    /// assert_eq!(q.qsize(), 1); // in the queue as soon as put returns
    /// q.close();
    /// assert_eq!(q.put("late".to_string()), Err(PutError::Closed("late".to_string())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.ep.put(value, Wait::Until(None))
    }

    /// Puts `value`, waiting at most `timeout` for room: Python's `put(block, timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q: Queue<u8> = Queue::builder().maxsize(1).create()?;
    /// q.put(1)?;
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(10)), Err(PutError::Timeout(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.ep.put(value, Wait::timeout(timeout))
    }

    /// [`put`](Self::put) waiting until `deadline` at most (crossbeam's `send_deadline`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: Queue<u32> = Queue::builder().maxsize(1).create()?;
    /// q.put_deadline(1, Instant::now() + Duration::from_secs(1))?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert!(matches!(q.put_deadline(2, soon), Err(PutError::Timeout(2))));
    /// assert!(Instant::now() >= soon);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_deadline(&self, value: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.ep.put(value, Wait::Until(Some(deadline)))
    }

    /// Puts `value` only if there is room now: Python's `put(block=False)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<u8> = Queue::builder().maxsize(1).create()?;
    /// q.try_put(1)?;
    /// assert_eq!(q.try_put(2), Err(PutError::Full(2)));
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), PutError<T>> {
        self.ep.put(value, Wait::No)
    }

    /// Puts every item in order, waiting for room as needed. On an error, the item that
    /// failed comes back in it; the items after it are not put.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// assert_eq!(q.put_many([1, 2, 3])?, 3);
    /// assert_eq!(q.qsize(), 3);
    /// q.close();
    /// assert_eq!(q.put_many([4, 5]), Err(PutError::Closed(4))); // 5 is not put
    /// assert_eq!(q.qsize(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_many<I: IntoIterator<Item = T>>(&self, items: I) -> Result<usize, PutError<T>> {
        put_each(items, |item| self.put(item))
    }

    /// Takes the next item, waiting while the queue is empty. After every writer has
    /// closed or exited, returns what is left and then [`GetError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put(1)?;
    /// q.close(); // no writer is left, but the item is still there
    /// assert_eq!(q.get()?, 1);
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.ep.get(Wait::Until(None))
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// let start = Instant::now();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// q.put(2)?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(10))?, 2);
    /// q.close();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.ep.get(Wait::timeout(timeout))
    }

    /// [`get`](Self::get) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put(7)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(q.get_deadline(soon)?, 7);
    /// assert_eq!(q.get_deadline(soon), Err(GetError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.ep.get(Wait::Until(Some(deadline)))
    }

    /// Takes the next item if one is ready: Python's `get(block=False)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    ///
    /// let q: Queue<u8> = Queue::new()?;
    /// assert_eq!(q.try_get(), Err(GetError::Empty));
    /// q.put(3)?;
    /// assert_eq!(q.try_get()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get(&self) -> Result<T, GetError> {
        self.ep.get(Wait::No)
    }

    /// Takes items as they come, waiting for each, until the queue is drained and every
    /// writer has closed or exited ([`GetError::Closed`] ends it): crossbeam's `iter`. Each
    /// item is a `Result`, since a record can fail validation
    /// ([`GetError::Invalid`]) and the queue goes on after it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// let writer = q.try_clone()?;
    /// writer.put_many(1..=3)?;
    /// drop(writer);
    /// q.close(); // this handle puts nothing more either: no writer is left
    /// let got: Result<Vec<u32>, _> = q.iter().collect();
    /// assert_eq!(got?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(self, Wait::Until(None))
    }

    /// Takes the items that are ready now, without waiting: crossbeam's `try_iter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put_many([7, 8])?;
    /// let got: Vec<u32> = q.try_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(got, [7, 8]);
    /// assert_eq!(q.try_iter().count(), 0); // empty: ends at once, the queue stays open
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> Iter<'_, T> {
        Iter::new(self, Wait::No)
    }

    /// Waits for one item, then takes up to `max - 1` more that are ready, appending all
    /// to `out`. Returns how many were taken (`max` 0: none, at once). "Ready" is what
    /// [`qsize`](Self::qsize) counts once the first item is in: items put while the batch
    /// is taken wait for the next call, so a batch seldom ends by looking at a record a
    /// producer is still writing (it can when `qsize` counted a put in progress, or
    /// another consumer took some).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put_many(0..10)?;
    /// let mut got = Vec::new();
    /// assert_eq!(q.get_many(&mut got, 4)?, 4);
    /// assert_eq!(got, [0, 1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many(&self, out: &mut Vec<T>, max: usize) -> Result<usize, GetError> {
        take_many(out, max, || self.get(), || self.qsize(), || self.try_get())
    }

    /// Takes the next item and reads it in place: the guard derefs to the validated
    /// archived value in shared memory, and frees its space when dropped.
    ///
    /// Hold the guard briefly. Its record's space, and the space of every record after
    /// it, is reused only once it drops: while it is held, producers fill the rest of the
    /// ring and then wait, and a `put` in the thread holding it waits for good. A process
    /// that dies holding a guard loses that message only: producers free its record once
    /// they find its owner dead.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<Vec<u32>> = Queue::new()?;
    /// q.put(vec![1, 2, 3])?;
    /// let v = q.get_ref()?; // no copy, no allocation
    /// assert_eq!(v.len(), 3);
    /// assert_eq!(v[2], 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_ref(&self) -> Result<Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::Until(None))
    }

    /// [`get_ref`](Self::get_ref) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    /// use std::time::Duration;
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// let e = q.get_ref_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, GetError::Timeout);
    /// q.put("in place".to_string())?;
    /// assert_eq!(q.get_ref_timeout(Duration::from_millis(10))?.as_str(), "in place");
    /// q.close();
    /// let e = q.get_ref_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref_timeout(&self, timeout: Duration) -> Result<Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::timeout(timeout))
    }

    /// [`get_ref`](Self::get_ref) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// q.put("in place".into())?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(q.get_ref_deadline(soon)?.as_str(), "in place");
    /// assert!(matches!(q.get_ref_deadline(soon), Err(GetError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref_deadline(&self, deadline: Instant) -> Result<Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::Until(Some(deadline)))
    }

    /// [`get_ref`](Self::get_ref) if an item is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// assert_eq!(q.try_get_ref().unwrap_err(), GetError::Empty);
    /// q.put("in place".to_string())?;
    /// assert_eq!(q.try_get_ref()?.as_str(), "in place");
    /// q.close();
    /// assert_eq!(q.try_get_ref().unwrap_err(), GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_ref(&self) -> Result<Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::No)
    }

    // Inlined, with `Ref::checked`, so that the guard stays in registers: returned through
    // the stack, it was moved with wider loads than the stores that wrote it, a
    // store-forwarding stall on every `get_ref` (29.5 -> 13.5 ns a `Queue<u64>` `get_ref`
    // across processes, four runs each; see the ring README, "Lagging cursors").
    #[inline(always)]
    fn get_ref_wait(&self, wait: Wait) -> Result<Ref<'_, T>, GetError> {
        Ref::checked(self.ep.pop(wait)?)
    }

    /// [`get_ref`](Self::get_ref) without validation.
    ///
    /// # Safety
    /// Every process writing to this queue must be trusted to put only `T` values with this
    /// same program's layout of `T`, and the segment must not be corrupted: a malformed
    /// record is undefined behaviour here.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, Queue};
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// q.put("trusted".to_string())?;
    /// // SAFETY: only this program puts to `q`, only `String`s, and nothing else maps it.
    /// let s = unsafe { q.get_ref_unchecked() }?;
    /// assert_eq!(s.as_str(), "trusted");
    /// drop(s);
    /// q.close();
    /// // SAFETY: as above.
    /// assert_eq!(unsafe { q.get_ref_unchecked() }.unwrap_err(), GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn get_ref_unchecked(&self) -> Result<Ref<'_, T>, GetError> {
        let record = self.ep.pop(Wait::Until(None))?;
        // Not validated: the caller vouches the bytes are a valid archived `T` (the
        // payload is 16-byte aligned and holds the exact length, so the root sits at its
        // end, where `Ref`'s `deref` reads it).
        Ok(Ref {
            record,
            _archived: PhantomData,
        })
    }
}

impl<T> Queue<T> {
    /// Items in the queue now: an item counts from the moment `put` returns until a `get`
    /// takes it (a `put` still writing counts too). With no put or get in flight this is
    /// exact; there is no feeder thread whose backlog it would miss, as Python's has.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.qsize(), 2); // no feeder thread: counted as soon as put returns
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.ep.ring.len()
    }

    /// True when no item is in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when the queue holds `maxsize` items. (A put can also wait for byte space
    /// when large messages fill the capacity first.)
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::builder().maxsize(1).create()?;
    /// assert!(!q.full());
    /// q.put(1)?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.ep.ring.is_full()
    }

    /// The most items the queue holds at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::builder().maxsize(10).create()?;
    /// assert_eq!(q.maxsize(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.ep.ring.maxsize()
    }

    /// Bytes of message space; also the largest serialized message.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<String> = Queue::builder().capacity(1000).create()?;
    /// assert_eq!(q.capacity(), 1024); // rounded up to a power of two
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ep.ring.capacity()
    }

    /// Ends putting through this handle, as Python's `close()`: its later puts fail with
    /// [`PutError::Closed`], and readers see [`GetError::Closed`] once no writer is left
    /// anywhere and the queue is drained. This handle can still `get`. It takes `&self`
    /// so that a forked child can close the handle it inherited. A put another thread
    /// began is still delivered if it had claimed its room before the close; one still
    /// waiting for room fails with [`PutError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, PutError, Queue};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put(1)?;
    /// q.close();
    /// assert_eq!(q.put(2), Err(PutError::Closed(2)));
    /// assert_eq!(q.get()?, 1); // this handle can still get
    /// assert_eq!(q.get(), Err(GetError::Closed)); // drained, and no writer is left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.ep.close_send();
    }

    /// The name unrelated programs open with [`Queue::open`] (named queues only).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u32> = Queue::builder().create_named("doc-name")?;
    /// assert!(q.name().unwrap().starts_with("/doc-name-"));
    /// assert_eq!(Queue::<u32>::new()?.name(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.ep.ring.name()
    }

    /// The fd and size a spawned child needs for [`Queue::from_handle`]; its `Display` is
    /// `fd:size`, parsed back by `str::parse`. For when the parent may drop its handle,
    /// see the crate docs, "Reaching another process".
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{Queue, SegmentHandle};
    ///
    /// let q: Queue<u32> = Queue::new()?;
    /// let h = q.handle();
    /// assert_eq!(h.to_string(), format!("{}:{}", h.fd, h.size));
    /// assert_eq!(h.to_string().parse::<SegmentHandle>()?, h);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.ep.ring.handle()
    }
}

/// A framed record's header must keep the archive after it 16-byte aligned.
pub(crate) fn check_header(header: &[u8]) -> Result<(), PutError<()>> {
    if header.len() % 16 == 0 {
        return Ok(());
    }
    Err(PutError::Failed {
        value: (),
        error: Error::handle(format!(
            "a put_framed header of {} bytes is not a multiple of 16; pad it",
            header.len()
        )),
    })
}

/// Marks a new ring as holding a queue flavour (checked by [`check_tag`] on opening).
pub(crate) fn set_tag(ring: &Ring, tag: u32) {
    // SYNC: pairs with the Acquire load in `check_tag`. Whoever opens the ring got it by
    // fork, handle or name, all after this store, which orders it already; the pair keeps
    // that true without relying on how the ring was passed.
    ring.user_words()[0].store(tag, Ordering::Release);
}

pub(crate) fn check_tag(ring: &Ring, tag: u32) -> Result<(), Error> {
    // SYNC: pairs with the Release store in `set_tag`.
    let found = ring.user_words()[0].load(Ordering::Acquire);
    if found == tag {
        return Ok(());
    }
    Err(Error::handle(format!(
        "this shared memory holds a {}, not a {}; check the name or handle",
        tag_name(found),
        tag_name(tag)
    )))
}

/// Records the size and alignment of `T`'s archive in the ring, for [`check_shape`]. Call
/// it before [`set_tag`], whose Release store publishes it.
pub(crate) fn set_shape<T: Message>(ring: &Ring) {
    ring.user_words()[WORD_SHAPE].store(shape::<T>(), Ordering::Relaxed);
}

/// Refuses to read a ring whose items were archived with another size or alignment than
/// `T`'s: opening a queue with the wrong item type is a clear error, not a stream of
/// `Invalid` items. Only the shape is known, so `u32` and `i32`, or `bool` and `u8`, pass
/// for each other (validation still checks every item). A byte queue's ring records no
/// shape (zero), and any item type may read it. Call it after [`check_tag`], whose Acquire
/// load makes the shape visible.
pub(crate) fn check_shape<T: Message>(ring: &Ring) -> Result<(), Error> {
    let found = ring.user_words()[WORD_SHAPE].load(Ordering::Relaxed);
    let want = shape::<T>();
    if found == 0 || found == want {
        return Ok(());
    }
    Err(Error::handle(format!(
        "this shared memory holds items archived in {}, but {} is archived in {}; \
         open it with the item type it was created with",
        shape_text(found),
        std::any::type_name::<T>(),
        shape_text(want)
    )))
}

/// The size and alignment of `T`'s archive in one word, never zero: the size (up to 2^24
/// - 1) above 8 bits of log2 of the alignment plus one.
fn shape<T: Message>() -> u32 {
    let size = std::mem::size_of::<T::Archived>().min(0x00FF_FFFF) as u32;
    let align_log2 = std::mem::align_of::<T::Archived>().trailing_zeros();
    (size << 8) | (align_log2 + 1)
}

/// What a shape word says, or that it says nothing sensible (a corrupted word).
fn shape_text(word: u32) -> String {
    match word & 0xFF {
        log2_plus_one @ 1..=32 => format!(
            "{} bytes aligned to {}",
            word >> 8,
            1u64 << (log2_plus_one - 1)
        ),
        _ => format!("an unknown layout (shape word {word:#x})"),
    }
}

fn tag_name(tag: u32) -> &'static str {
    match tag {
        TAG_QUEUE => "Queue",
        TAG_JOINABLE => "JoinableQueue",
        TAG_PIPE => "Pipe",
        _ => "raw ring or unknown object",
    }
}

impl<T: Message> Source for Queue<T> {
    type Item = T;
    fn pull(&self, wait: Wait) -> Result<T, GetError> {
        self.ep.get(wait)
    }
}

impl<'a, T: Message> IntoIterator for &'a Queue<T> {
    type Item = Result<T, GetError>;
    type IntoIter = Iter<'a, T>;

    /// [`Queue::iter`].
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A taken item read in place: derefs to the validated archived `T` in shared memory.
/// Dropping it frees the item's space for writers. Another thread may read it, or drop
/// it, as it could a `&T::Archived`.
///
/// # Examples
///
/// ```
/// use mp_queue::Queue;
///
/// let q: Queue<String> = Queue::new()?;
/// q.put("read elsewhere".into())?;
/// let r = q.get_ref()?;
/// std::thread::scope(|s| {
///     s.spawn(move || assert_eq!(r.as_str(), "read elsewhere"));
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ref<'a, T: Message> {
    /// The record, validated as an archived `T` whose root sits at its end, where rkyv
    /// puts it. Only the guard is kept, not a pointer to the root: moving a guard and a
    /// pointer out of `get_ref` after the validation call cost a store-forwarding stall.
    record: ReadGuard<'a>,
    /// Lends `&T::Archived`: `Send` and `Sync` exactly when the archived type is `Sync`.
    _archived: PhantomData<&'a T::Archived>,
}

impl<'a, T: Message> Ref<'a, T> {
    /// Validates `record` as an archived `T` (inlined: see `Queue::get_ref_wait`).
    #[inline(always)]
    pub(crate) fn checked(record: ReadGuard<'a>) -> Result<Self, GetError> {
        message::access::<T>(&record).map_err(|e| GetError::Invalid(Error::rkyv(e)))?;
        Ok(Ref {
            record,
            _archived: PhantomData,
        })
    }
}

impl<T: Message> Ref<'_, T> {
    /// The record's bytes (the archived form).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<u64> = Queue::new()?;
    /// q.put(7)?;
    /// let r = q.get_ref()?;
    /// assert_eq!(r.bytes(), 7u64.to_le_bytes()); // a plain value's archive is its own bytes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes(&self) -> &[u8] {
        &self.record
    }

    /// Deserializes a private copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::Queue;
    ///
    /// let q: Queue<Vec<String>> = Queue::new()?;
    /// q.put(vec!["a".to_string(), "b".to_string()])?;
    /// let r = q.get_ref()?;
    /// let owned: Vec<String> = r.deserialize()?;
    /// assert_eq!(owned, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deserialize(&self) -> Result<T, Error> {
        rkyv::deserialize::<T, rkyv::rancor::Error>(&**self).map_err(Error::rkyv)
    }
}

impl<T: Message> Deref for Ref<'_, T> {
    type Target = T::Archived;
    #[inline]
    fn deref(&self) -> &T::Archived {
        let pos = rkyv::api::root_position::<T::Archived>(self.record.len());
        // SAFETY: the bytes at `pos`, where `access` found the root, were validated (or
        // vouched for) as an archived `T` when the Ref was made, and the guard keeps the
        // record reserved for us, unchanged, until it drops.
        unsafe { &*self.record.as_ptr().add(pos).cast::<T::Archived>() }
    }
}

impl<T: Message> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ref")
            .field("len", &self.record.len())
            .finish_non_exhaustive()
    }
}

/// Puts each item in turn with `put`; the first that fails stops it. Returns how many.
pub(crate) fn put_each<V>(
    items: impl IntoIterator<Item = V>,
    mut put: impl FnMut(V) -> Result<(), PutError<V>>,
) -> Result<usize, PutError<V>> {
    let mut n = 0;
    for item in items {
        put(item)?;
        n += 1;
    }
    Ok(n)
}

/// `get_many`'s loop for every queue kind: waits for one item with `wait`, then takes with
/// `now` what `ready` says is in the queue, up to `max` in all, stopping early at an
/// empty (or closed) look.
pub(crate) fn take_many<V>(
    out: &mut Vec<V>,
    max: usize,
    wait: impl FnOnce() -> Result<V, GetError>,
    ready: impl FnOnce() -> usize,
    mut now: impl FnMut() -> Result<V, GetError>,
) -> Result<usize, GetError> {
    if max == 0 {
        return Ok(0);
    }
    out.push(wait()?);
    if max == 1 {
        return Ok(1);
    }
    let max = max.min(ready().saturating_add(1));
    let mut n = 1;
    while n < max {
        match now() {
            Ok(v) => out.push(v),
            Err(GetError::Empty | GetError::Closed) => break,
            Err(e) => return Err(e),
        }
        n += 1;
    }
    Ok(n)
}
