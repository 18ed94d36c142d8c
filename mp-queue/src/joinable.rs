//! `JoinableQueue<T>` (task accounting with `task_done` / `join`) and `SimpleQueue<T>`.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::futex::{self, Wake};
use ipc_core::ring::Ring;
use ipc_core::segment::SegmentHandle;

use crate::error::{Error, GetError, PutError, TaskDoneError};
use crate::message::Message;
use crate::queue::{Queue, QueueBuilder, TAG_JOINABLE, TAG_QUEUE};

/// User words of the ring: unfinished tasks (put, not yet `task_done`), items taken and
/// not yet `task_done`, and how many processes sleep in `join`.
const UNFINISHED: usize = 1;
const TAKEN: usize = 2;
const JOINERS: usize = 3;

/// A [`Queue`] that counts tasks: every `put` adds one, every [`task_done`](Self::task_done)
/// settles one, and [`join`](Self::join) waits until all are settled. Python's
/// `multiprocessing.JoinableQueue`.
///
/// A process that dies between `get` and `task_done` (or in the middle of a `put`) leaves
/// a task unsettled: `join` then waits forever, as in Python. Use
/// [`join_timeout`](Self::join_timeout) where workers may die.
///
/// # Examples
///
/// ```
/// use mp_queue::JoinableQueue;
///
/// let q: JoinableQueue<u32> = JoinableQueue::new()?;
/// q.put(1)?;
/// q.put(2)?;
/// assert_eq!(q.get()? + q.get()?, 3);
/// q.task_done()?;
/// q.task_done()?;
/// q.join(); // both tasks are done
/// assert!(q.task_done().is_err()); // one call too many, as Python's ValueError
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    q: Queue<T>,
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.q)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}

impl<T: Message> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T: Message> JoinableQueue<T> {
    /// A joinable queue with the default options.
    pub fn new() -> Result<Self, Error> {
        Self::with(QueueBuilder::default(), None)
    }

    /// A joinable queue with `builder`'s options, named when `prefix` is given.
    pub fn with(builder: QueueBuilder, prefix: Option<&str>) -> Result<Self, Error> {
        let ring = builder.create_ring(prefix)?;
        let q = Queue::tagged(ring, TAG_JOINABLE)?;
        Ok(JoinableQueue { q })
    }

    /// Opens a named joinable queue.
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: Queue::attach(Ring::open_named(name)?, TAG_JOINABLE)?,
        })
    }

    /// Attaches from a handle in a spawned child.
    pub fn from_handle(handle: SegmentHandle) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: Queue::attach(Ring::from_handle(handle)?, TAG_JOINABLE)?,
        })
    }

    /// Puts `value` (waiting for room) and counts one more unfinished task.
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.counted(|q| q.put(value))
    }

    /// [`put`](Self::put) waiting at most `timeout`.
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.counted(|q| q.put_timeout(value, timeout))
    }

    /// [`put`](Self::put) only if there is room now.
    pub fn try_put(&self, value: T) -> Result<(), PutError<T>> {
        self.counted(|q| q.try_put(value))
    }

    fn counted(
        &self,
        put: impl FnOnce(&Queue<T>) -> Result<(), PutError<T>>,
    ) -> Result<(), PutError<T>> {
        // Count first, so a fast consumer's task_done never sees the count below zero.
        // SYNC: the task counters carry no data; SeqCst keeps every change to them in the
        // one order the join handshake in `settle_one` and `join` reasons about.
        self.word(UNFINISHED).fetch_add(1, Ordering::SeqCst);
        let r = put(&self.q);
        if r.is_err() {
            self.settle_one();
        }
        r
    }

    /// Takes the next item (see [`Queue::get`]); call [`task_done`](Self::task_done) when
    /// it is processed.
    pub fn get(&self) -> Result<T, GetError> {
        self.taken(self.q.get())
    }

    /// [`get`](Self::get) waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.taken(self.q.get_timeout(timeout))
    }

    /// [`get`](Self::get) if an item is ready.
    pub fn try_get(&self) -> Result<T, GetError> {
        self.taken(self.q.try_get())
    }

    /// Takes the next item in place (see [`Queue::get_ref`]); it counts as taken, so call
    /// [`task_done`](Self::task_done) when it is processed.
    pub fn get_ref(&self) -> Result<crate::Ref<'_, T>, GetError> {
        self.taken(self.q.get_ref())
    }

    /// Another handle on the same queue, or an error if out of file descriptors.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: self.q.try_clone()?,
        })
    }

    /// Counts an item as taken when `r` took one (an invalid record was taken too).
    fn taken<R>(&self, r: Result<R, GetError>) -> Result<R, GetError> {
        if r.is_ok() || matches!(r, Err(GetError::Invalid(_))) {
            // SYNC: a counter, as in `counted`.
            self.word(TAKEN).fetch_add(1, Ordering::SeqCst);
        }
        r
    }
}

impl<T> JoinableQueue<T> {
    fn word(&self, i: usize) -> &ipc_core::ring::UserWord {
        &self.q.ep.ring.user_words()[i]
    }

    /// Settles one task taken with `get`. An error if every taken item is already settled.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let taken = self.word(TAKEN);
        // SYNC: counters, as in `counted`; the CAS keeps `task_done` from settling more
        // tasks than were taken, across processes.
        let mut n = taken.load(Ordering::SeqCst);
        loop {
            if n == 0 {
                return Err(TaskDoneError);
            }
            match taken.compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        self.settle_one();
        Ok(())
    }

    fn settle_one(&self) {
        let unfinished = self.word(UNFINISHED);
        let mut n = unfinished.load(Ordering::SeqCst);
        while n > 0 {
            match unfinished.compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        // SYNC: SeqCst decrement above, then SeqCst load of the joiners: a joiner either
        // registered before (we wake it) or reads the new count after registering.
        if n == 1 && self.word(JOINERS).load(Ordering::SeqCst) != 0 {
            futex::wake(unfinished, u32::MAX);
        }
    }

    /// Tasks put and not yet settled by `task_done`.
    pub fn unfinished(&self) -> usize {
        self.word(UNFINISHED).load(Ordering::SeqCst) as usize
    }

    /// Waits until every task put so far is settled.
    pub fn join(&self) {
        let _ = self.join_deadline(None);
    }

    /// Waits at most `timeout` for every task to be settled; true if they were.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(ipc_core::deadline_after(timeout))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> bool {
        let unfinished = self.word(UNFINISHED);
        let joiners = self.word(JOINERS);
        loop {
            joiners.fetch_add(1, Ordering::SeqCst);
            // SYNC: pairs with the SeqCst decrement and joiner load in `settle_one`.
            let n = unfinished.load(Ordering::SeqCst);
            let woke = if n == 0 {
                Wake::Woken
            } else {
                futex::wait(unfinished, n, deadline)
            };
            joiners.fetch_sub(1, Ordering::SeqCst);
            if unfinished.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if woke == Wake::TimedOut || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        }
    }

    /// The underlying queue's size, emptiness, fullness and close (see [`Queue`]).
    pub fn qsize(&self) -> usize {
        self.q.qsize()
    }

    /// True when no item is in the queue.
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// True when the queue holds `maxsize` items.
    pub fn full(&self) -> bool {
        self.q.full()
    }

    /// The most items the queue holds at once.
    pub fn maxsize(&self) -> usize {
        self.q.maxsize()
    }

    /// Bytes of message space; also the largest serialized message.
    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }

    /// Ends putting through this handle (see [`Queue::close`]).
    pub fn close(&self) {
        self.q.close();
    }

    /// The name of a named queue.
    pub fn name(&self) -> Option<&str> {
        self.q.name()
    }

    /// The handle for a spawned child.
    pub fn handle(&self) -> SegmentHandle {
        self.q.handle()
    }
}

/// The minimal queue: `put`, `get`, `empty`, `close`. Python's
/// `multiprocessing.SimpleQueue`.
///
/// # Examples
///
/// ```
/// use mp_queue::SimpleQueue;
///
/// let q: SimpleQueue<(u8, String)> = SimpleQueue::new()?;
/// q.put((1, "one".into()))?;
/// assert!(!q.empty());
/// assert_eq!(q.get()?, (1, "one".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    q: Queue<T>,
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("queue", &self.q)
            .finish()
    }
}

impl<T: Message> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue { q: self.q.clone() }
    }
}

impl<T: Message> SimpleQueue<T> {
    /// A simple queue with the default options.
    pub fn new() -> Result<Self, Error> {
        Ok(SimpleQueue { q: Queue::new()? })
    }

    /// Attaches from a handle in a spawned child.
    pub fn from_handle(handle: SegmentHandle) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: Queue::attach(Ring::from_handle(handle)?, TAG_QUEUE)?,
        })
    }

    /// A simple queue that unrelated programs open by [`name`](Self::name) with
    /// [`SimpleQueue::open`] (see [`QueueBuilder::create_named`]).
    pub fn create_named(prefix: &str) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: QueueBuilder::default().create_named(prefix)?,
        })
    }

    /// Opens a named simple queue (or a named [`Queue`] of the same `T`).
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: Queue::open(name)?,
        })
    }

    /// Another handle on the same queue.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: self.q.try_clone()?,
        })
    }

    /// Puts `value`, waiting for room.
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.q.put(value)
    }

    /// Takes the next item, waiting; [`GetError::Closed`] once drained with no writer left.
    pub fn get(&self) -> Result<T, GetError> {
        self.q.get()
    }
}

impl<T> SimpleQueue<T> {
    /// True when no item is in the queue.
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// The name of a named queue.
    pub fn name(&self) -> Option<&str> {
        self.q.name()
    }

    /// Ends putting through this handle.
    pub fn close(&self) {
        self.q.close();
    }

    /// The handle for a spawned child.
    pub fn handle(&self) -> SegmentHandle {
        self.q.handle()
    }
}
