//! `JoinableQueue<T>`: a `Queue` with task accounting (`task_done` / `join`).

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::futex;
use ipc_core::ring::Ring;
use ipc_core::segment::SegmentHandle;

use crate::endpoint::Wait;
use crate::error::{Error, GetError, PutError, TaskDoneError};
use crate::iter::{Iter, Source};
use crate::message::{self, Message};
use crate::queue::{Queue, QueueBuilder, TAG_JOINABLE};

/// User words of the ring: unfinished tasks (put, not yet `task_done`), tasks held (items
/// taken and not yet `task_done`, and puts still running), and how many processes sleep
/// in `join`. Each process also counts the tasks it holds in its own word
/// (`Ring::process_word`), so that `join` can settle the tasks of a process that died
/// holding them.
const UNFINISHED: usize = 1;
const TAKEN: usize = 2;
const JOINERS: usize = 3;

/// How often a waiting `join` looks for processes that died holding tasks.
const DEAD_POLL: Duration = Duration::from_millis(50);

/// A [`Queue`] that counts tasks: every `put` adds one, every [`task_done`](Self::task_done)
/// settles one, and [`join`](Self::join) waits until all are settled. Python's
/// `multiprocessing.JoinableQueue`.
///
/// **Processes that die.** A process that exits or is killed between `get` and
/// `task_done` loses the tasks it held (DESIGN: a dead process loses at most what it
/// held), and `join` settles them within about 50 ms instead of waiting for good (Python
/// would hang). A task counts as held from the moment its record is taken, before it is
/// decoded, and by its producer while `put` runs: a producer killed while its `put`
/// waits for room leaves no task behind either. Not covered, so `join` can still wait
/// forever or return early:
/// - a process killed in the few instructions between taking a record and counting it
///   leaves the task unsettled; [`join_timeout`](Self::join_timeout) bounds that wait;
/// - a producer killed after its record went out and before its `put` returned, or in
///   the few instructions between counting itself and counting the task, has the task
///   settled once too often: `join` may return one task early;
/// - while a `put` runs, its task counts as held, so a `task_done` called once too often
///   in that window is not refused; a producer killed between the first two counts of
///   its `put` leaves one such `task_done` accepted for good;
/// - a `task_done` made by another process than the one that took the item settles the
///   task, but the taker's own count keeps it: a `task_done` once too many from the
///   taker is then refused only when no task is open (Python's own rule), and if the
///   taker dies first the task is settled again, so `join` may return one task early.
///   A process
///   killed inside `task_done` or between its two counts when taking has the same
///   effect (the counts are ordered to settle early rather than never). And if the
///   process making that `task_done` is itself in the middle of a `put`, the `put`'s
///   task stops counting as held there: killed before that `put` returns, it leaves the
///   task unsettled.
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
    /// Another handle on the same queue, as [`Queue`'s `clone`](Queue::clone): panics if
    /// the process is out of file descriptors or cannot take a slot; use
    /// [`try_clone`](Self::try_clone) to handle that.
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T: Message> JoinableQueue<T> {
    /// A joinable queue with the default options.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Self::with(QueueBuilder::default(), None)
    }

    /// A joinable queue with `builder`'s options, named when `prefix` is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let builder = Queue::builder().maxsize(2);
    /// let q: JoinableQueue<u32> = JoinableQueue::with(builder, Some("doc-jq"))?;
    /// assert_eq!(q.maxsize(), 2);
    /// assert!(q.name().unwrap().starts_with("/doc-jq-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with(builder: QueueBuilder, prefix: Option<&str>) -> Result<Self, Error> {
        let ring = builder.create_ring(prefix)?;
        let q = Queue::tagged(ring, TAG_JOINABLE)?;
        Ok(JoinableQueue { q })
    }

    /// Opens a named joinable queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder(), Some("doc-jq-open"))?;
    /// let other: JoinableQueue<u32> = JoinableQueue::open(q.name().unwrap())?;
    /// other.put(5)?;
    /// assert_eq!(q.get()?, 5);
    /// q.task_done()?;
    /// other.join(); // one queue, one task count
    /// let plain: Queue<u32> = Queue::builder().create_named("doc-plain")?;
    /// assert!(JoinableQueue::<u32>::open(plain.name().unwrap()).is_err()); // not joinable
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: Queue::attach(Ring::open_named(name)?, TAG_JOINABLE)?,
        })
    }

    /// Attaches from a handle in a spawned child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// let text = q.handle().to_string(); // "fd:size", for a spawned child
    /// // In the child, which inherited the fd (here, the same process):
    /// let child_side: JoinableQueue<u32> = JoinableQueue::from_handle(text.parse()?)?;
    /// child_side.put(9)?;
    /// assert_eq!(q.get()?, 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: Queue::attach(Ring::from_handle(handle)?, TAG_JOINABLE)?,
        })
    }

    /// Puts `value` (waiting for room) and counts one more unfinished task.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, PutError};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// assert_eq!(q.unfinished(), 1);
    /// q.close();
    /// assert_eq!(q.put(2), Err(PutError::Closed(2)));
    /// assert_eq!(q.unfinished(), 1); // a failed put leaves no task
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.counted(|q| q.put(value))
    }

    /// [`put`](Self::put) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, PutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.put_timeout(1, Duration::from_millis(10))?;
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(10)), Err(PutError::Timeout(2)));
    /// q.close();
    /// assert_eq!(q.put_timeout(3, Duration::from_millis(10)), Err(PutError::Closed(3)));
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.counted(|q| q.put_timeout(value, timeout))
    }

    /// [`put`](Self::put) waiting until `deadline` at most. The task counts (in
    /// [`unfinished`](Self::unfinished), and for `join`) while the `put` waits; a put that
    /// fails takes it back.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, PutError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder().maxsize(1), None)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// q.put_deadline(1, soon)?;
    /// assert!(matches!(q.put_deadline(2, soon), Err(PutError::Timeout(2))));
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_deadline(&self, value: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.counted(|q| q.put_deadline(value, deadline))
    }

    /// [`put`](Self::put) only if there is room now.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, PutError, Queue};
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::with(Queue::builder().maxsize(1), None)?;
    /// q.try_put(1)?;
    /// assert_eq!(q.try_put(2), Err(PutError::Full(2)));
    /// q.close();
    /// assert_eq!(q.try_put(3), Err(PutError::Closed(3)));
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), PutError<T>> {
        self.counted(|q| q.try_put(value))
    }

    fn counted(
        &self,
        put: impl FnOnce(&Queue<T>) -> Result<(), PutError<T>>,
    ) -> Result<(), PutError<T>> {
        // Count first, so a fast consumer's task_done never sees the count below zero.
        // SYNC: the task counters carry no data; SeqCst keeps every change to them in the
        // one order the join handshake in `settle` and `join` reasons about.
        //
        // While its put runs, this process answers for the task as if it had taken it:
        // in `TAKEN` and in its own word, so that if it is killed in between (a put
        // waiting for room, most likely) `settle_dead` settles the task and takes it out
        // of `TAKEN` again, exactly as for a taker that died. The order makes every
        // death point err towards "settled early" or "task_done allowed once more",
        // never towards a task nobody settles or a `task_done` refused:
        // `TAKEN`, own word, `UNFINISHED` up; put; own word, then `TAKEN` down.
        let mine = self.q.ep.ring.process_word().ok();
        self.word(TAKEN).fetch_add(1, Ordering::SeqCst);
        if let Some(mine) = mine {
            mine.fetch_add(1, Ordering::SeqCst);
        }
        self.word(UNFINISHED).fetch_add(1, Ordering::SeqCst);
        // Undone on drop, so that a put that panics (in the value's own `Serialize`) takes
        // its task back as a failed one does: this process lives on, so no `settle_dead`
        // would.
        let mut held = HeldForPut {
            q: self,
            mine,
            put: false,
        };
        let r = put(&self.q);
        held.put = r.is_ok();
        r
    }

    /// Puts each item in turn (each a task), as [`Queue::put_many`]; returns how many.
    /// The first that fails stops it, and comes back in the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// assert_eq!(q.put_many(1..=3)?, 3);
    /// assert_eq!(q.unfinished(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_many<I: IntoIterator<Item = T>>(&self, items: I) -> Result<usize, PutError<T>> {
        crate::queue::put_each(items, |item| self.put(item))
    }

    /// Waits for one item, then takes up to `max` in all that are ready, as
    /// [`Queue::get_many`]; each counts as taken (call [`task_done`](Self::task_done) for
    /// each). On an error the items already appended to `out` were taken too.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put_many(0..5)?;
    /// let mut got = Vec::new();
    /// assert_eq!(q.get_many(&mut got, 3)?, 3);
    /// assert_eq!(got, [0, 1, 2]);
    /// for _ in &got {
    ///     q.task_done()?;
    /// }
    /// assert_eq!(q.unfinished(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many(&self, out: &mut Vec<T>, max: usize) -> Result<usize, GetError> {
        crate::queue::take_many(out, max, || self.get(), || self.qsize(), || self.try_get())
    }

    /// Takes the next item (see [`Queue::get`]); call [`task_done`](Self::task_done) when
    /// it is processed.
    ///
    /// An item that fails validation ([`GetError::Invalid`]) is settled here, at once:
    /// nobody can process it, so `join` does not wait for it, and `task_done` is not
    /// called for it. (Python raises while unpickling and leaves the task open.)
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    ///
    /// let q: JoinableQueue<String> = JoinableQueue::new()?;
    /// q.put("job".to_string())?;
    /// q.close(); // the only writer: the queue drains, then reads as closed
    /// assert_eq!(q.get()?, "job");
    /// q.task_done()?;
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_wait(Wait::Until(None))
    }

    /// [`get`](Self::get) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// q.put(1)?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(10))?, 1);
    /// q.task_done()?;
    /// q.close();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_wait(Wait::timeout(timeout))
    }

    /// [`get`](Self::get) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(q.get_deadline(soon), Err(GetError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_wait(Wait::Until(Some(deadline)))
    }

    /// [`get`](Self::get) if an item is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new()?;
    /// assert_eq!(q.try_get(), Err(GetError::Empty));
    /// q.put(4)?;
    /// assert_eq!(q.try_get()?, 4);
    /// q.task_done()?;
    /// q.close();
    /// assert_eq!(q.try_get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get_wait(Wait::No)
    }

    /// Takes items as they come, waiting for each, until the queue is drained and no
    /// writer is left: crossbeam's `iter`, as [`Queue::iter`]. Each `Ok` item is a task:
    /// call [`task_done`](Self::task_done) for it. An `Err(GetError::Invalid)` item is
    /// settled already (no caller could process it), as with [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// let worker = q.try_clone()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(move || {
    ///         worker.close(); // it only takes: its loop ends when `q` closes
    ///         let mut sum = 0;
    ///         for job in &worker {
    ///             sum += job.unwrap();
    ///             worker.task_done().unwrap();
    ///         }
    ///         assert_eq!(sum, 6);
    ///     });
    ///     q.put_many(1..=3).unwrap();
    ///     q.join(); // every job was taken and done
    ///     q.close(); // the last writer: the worker's loop ends
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T, Self> {
        Iter::new(self, Wait::Until(None))
    }

    /// Takes the items that are ready now, without waiting: crossbeam's `try_iter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put_many([1, 2])?;
    /// for job in q.try_iter() {
    ///     job?;
    ///     q.task_done()?;
    /// }
    /// assert!(q.join_timeout(std::time::Duration::ZERO)); // all done
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> Iter<'_, T, Self> {
        Iter::new(self, Wait::No)
    }

    /// Takes the next item in place (see [`Queue::get_ref`]); it counts as taken, so call
    /// [`task_done`](Self::task_done) when it is processed. An item that fails validation
    /// is settled at once, as in [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    ///
    /// let q: JoinableQueue<String> = JoinableQueue::new()?;
    /// q.put("in place".to_string())?;
    /// assert_eq!(q.get_ref()?.as_str(), "in place"); // the guard drops here
    /// q.task_done()?; // taken all the same
    /// q.join();
    /// q.close();
    /// assert_eq!(q.get_ref().unwrap_err(), GetError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref(&self) -> Result<crate::Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::Until(None))
    }

    /// [`get_ref`](Self::get_ref) waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u64> = JoinableQueue::new()?;
    /// q.put(5)?;
    /// assert_eq!(*q.get_ref_timeout(Duration::from_millis(10))?, 5);
    /// q.task_done()?;
    /// let e = q.get_ref_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e, GetError::Timeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref_timeout(&self, timeout: Duration) -> Result<crate::Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::timeout(timeout))
    }

    /// [`get_ref`](Self::get_ref) waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q: JoinableQueue<u64> = JoinableQueue::new()?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(q.get_ref_deadline(soon).unwrap_err(), GetError::Timeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref_deadline(&self, deadline: Instant) -> Result<crate::Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::Until(Some(deadline)))
    }

    /// [`get_ref`](Self::get_ref) if an item is ready ([`GetError::Empty`] otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    ///
    /// let q: JoinableQueue<u64> = JoinableQueue::new()?;
    /// assert_eq!(q.try_get_ref().unwrap_err(), GetError::Empty);
    /// q.put(9)?;
    /// assert_eq!(*q.try_get_ref()?, 9);
    /// q.task_done()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_ref(&self) -> Result<crate::Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::No)
    }

    fn get_ref_wait(&self, wait: Wait) -> Result<crate::Ref<'_, T>, GetError> {
        crate::Ref::checked(self.take(wait)?).inspect_err(|e| self.settle_invalid(e))
    }

    fn get_wait(&self, wait: Wait) -> Result<T, GetError> {
        let record = self.take(wait)?;
        message::decode::<T>(&record)
            .map_err(|e| GetError::Invalid(Error::rkyv(e)))
            .inspect_err(|e| self.settle_invalid(e))
    }

    /// Settles a taken item that failed validation: no caller can process it.
    fn settle_invalid(&self, e: &GetError) {
        if matches!(e, GetError::Invalid(_)) {
            // Counted as taken, so there is a task to settle (unless a task_done elsewhere
            // raced us to it, which is then that caller's error, not this one's).
            let _ = self.task_done();
        }
    }

    /// Another handle on the same queue, or an error if out of file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue};
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// let other = q.try_clone()?; // a writer of its own
    /// q.close();
    /// other.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// q.task_done()?;
    /// // `other` can still put, so an empty queue waits rather than reading as closed.
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(JoinableQueue {
            q: self.q.try_clone()?,
        })
    }

    /// Takes the next record and counts it as taken (a record that fails validation
    /// later counts too), in the queue's count and in this process's own, before the
    /// record is decoded: a process killed while decoding holds the task, and `join`
    /// settles it.
    fn take(&self, wait: Wait) -> Result<ipc_core::ring::ReadGuard<'_>, GetError> {
        let record = self.q.ep.pop(wait)?;
        // SYNC: counters, as in `counted`. This process's count goes first: a process
        // killed between the two leaves a count `settle_dead` settles (at worst a task
        // settled twice, `join` early by one), never a task nobody can settle.
        if let Ok(mine) = self.q.ep.ring.process_word() {
            mine.fetch_add(1, Ordering::SeqCst);
        }
        self.word(TAKEN).fetch_add(1, Ordering::SeqCst);
        Ok(record)
    }
}

/// A task `counted` holds while its put runs: on drop, given back to this process and
/// to `TAKEN`, and settled too unless it was put.
struct HeldForPut<'a, T> {
    q: &'a JoinableQueue<T>,
    mine: Option<&'a ipc_core::ring::UserWord>,
    put: bool,
}

impl<T> Drop for HeldForPut<'_, T> {
    fn drop(&mut self) {
        if !self.put {
            self.q.settle(1);
        }
        if let Some(mine) = self.mine {
            decrement(mine, 1);
        }
        decrement(self.q.word(TAKEN), 1);
    }
}

/// Takes up to `n` from `w`, never below zero. Returns how much it took.
fn decrement(w: &ipc_core::ring::UserWord, n: u32) -> u32 {
    let mut cur = w.load(Ordering::SeqCst);
    loop {
        let by = cur.min(n);
        if by == 0 {
            return 0;
        }
        match w.compare_exchange(cur, cur - by, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return by,
            Err(now) => cur = now,
        }
    }
}

impl<T> JoinableQueue<T> {
    fn word(&self, i: usize) -> &ipc_core::ring::UserWord {
        &self.q.ep.ring.user_words()[i]
    }

    /// Settles one task taken with `get`. An error if every taken item is already settled.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, TaskDoneError};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// assert_eq!(q.task_done(), Err(TaskDoneError)); // put, not taken yet
    /// q.get()?;
    /// q.task_done()?;
    /// assert_eq!(q.unfinished(), 0);
    /// assert_eq!(q.task_done(), Err(TaskDoneError)); // once too often
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let taken = self.word(TAKEN);
        let mine = self.q.ep.ring.process_word().ok();
        // SYNC: counters, as in `counted`; the CAS keeps `task_done` from settling more
        // tasks than were taken, across processes.
        let mut n = taken.load(Ordering::SeqCst);
        loop {
            if n == 0 {
                // `settle_dead` takes a dead process's whole count out of `TAKEN`, also
                // the one task it had counted as its own and not yet in `TAKEN` (killed
                // between the two counts of `take` or `counted`): `TAKEN` can then read 0
                // while a live process holds a task. Its own count says it does; and a
                // task must be open, which is all Python asks. Settled before this
                // process's count goes down: killed in between, the task is settled again
                // (`join` early), never left to nobody.
                let held = mine.is_some_and(|w| w.load(Ordering::SeqCst) > 0);
                if !held || self.settle(1) == 0 {
                    return Err(TaskDoneError);
                }
                if let Some(mine) = mine {
                    decrement(mine, 1);
                }
                return Ok(());
            }
            match taken.compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        self.settle(1);
        // Then one of this process's own, unless another process took the item (see the
        // type's docs). Last: a process killed just before leaves its count to
        // `settle_dead`, which settles the task again (`join` early by one), instead of a
        // task nobody settles.
        if let Some(mine) = mine {
            decrement(mine, 1);
        }
        Ok(())
    }

    /// Settles the tasks of processes that died holding them: they are lost with their
    /// process. The count comes from shared memory, so it is applied in one saturating
    /// step, never looped over.
    fn settle_dead(&self) {
        let ring = &self.q.ep.ring;
        // The lost count sits in this process's own word until it is settled: a joiner
        // killed in between leaves it to be settled again after its death (at worst
        // twice, `join` early), never to nobody.
        let (Ok(lost), Ok(mine)) = (ring.adopt_dead_words(), ring.process_word()) else {
            return;
        };
        if lost != 0 {
            self.settle(lost);
            decrement(self.word(TAKEN), lost);
            decrement(mine, lost);
        }
    }

    /// Settles `n` unfinished tasks (never below zero), waking joiners when none is left.
    /// Returns how many it settled.
    fn settle(&self, n: u32) -> u32 {
        let unfinished = self.word(UNFINISHED);
        let by = decrement(unfinished, n);
        // SYNC: SeqCst decrement above, then SeqCst load of the joiners: a joiner either
        // registered before (we wake it) or reads the new count after registering.
        if by != 0
            && unfinished.load(Ordering::SeqCst) == 0
            && self.word(JOINERS).load(Ordering::SeqCst) != 0
        {
            futex::wake(unfinished, u32::MAX);
        }
        by
    }

    /// Tasks put and not yet settled by `task_done`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// q.get()?;
    /// assert_eq!(q.unfinished(), 2); // taken is not settled
    /// q.task_done()?;
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unfinished(&self) -> usize {
        self.word(UNFINISHED).load(Ordering::SeqCst) as usize
    }

    /// Waits until every task put so far is settled.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let _job = q.get().unwrap();
    ///         q.task_done().unwrap();
    ///     });
    ///     q.join(); // returns once the worker's task_done settled the task
    /// });
    /// assert_eq!(q.unfinished(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) {
        let _ = self.join_until(None);
    }

    /// Waits at most `timeout` for every task to be settled; true if they were.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// assert!(!q.join_timeout(Duration::from_millis(10))); // the task is open
    /// q.get()?;
    /// q.task_done()?;
    /// assert!(q.join_timeout(Duration::from_millis(10)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(ipc_core::deadline_after(timeout))
    }

    /// [`join`](Self::join) waiting until `deadline` at most: true once every task is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    /// use std::time::{Duration, Instant};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert!(!q.join_deadline(soon)); // the task is open
    /// assert!(Instant::now() >= soon);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.join_until(Some(deadline))
    }

    fn join_until(&self, deadline: Option<Instant>) -> bool {
        let unfinished = self.word(UNFINISHED);
        let joiners = self.word(JOINERS);
        let mut next_scan = Instant::now();
        loop {
            // At most every `DEAD_POLL`: a scan reads `/proc` for every holder.
            if Instant::now() >= next_scan {
                self.settle_dead();
                next_scan = Instant::now() + DEAD_POLL;
            }
            joiners.fetch_add(1, Ordering::SeqCst);
            // SYNC: pairs with the SeqCst decrement and joiner load in `settle`.
            let n = unfinished.load(Ordering::SeqCst);
            if n != 0 {
                // Wake by the next scan to look for holders that died: nobody else settles
                // their tasks.
                let until = deadline.map_or(next_scan, |d| d.min(next_scan));
                let _ = futex::wait(unfinished, n, Some(until));
            }
            joiners.fetch_sub(1, Ordering::SeqCst);
            if unfinished.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.settle_dead();
                return unfinished.load(Ordering::SeqCst) == 0;
            }
        }
    }

    /// Items in the queue now, as [`Queue::qsize`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.qsize(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.q.qsize()
    }

    /// True when no item is in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// True when the queue holds `maxsize` items.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder().maxsize(1), None)?;
    /// assert!(!q.full());
    /// q.put(1)?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.q.full()
    }

    /// The most items the queue holds at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder().maxsize(10), None)?;
    /// assert_eq!(q.maxsize(), 10);
    /// assert_eq!(JoinableQueue::<u32>::new()?.maxsize(), 8188); // the default for 1 MiB
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.q.maxsize()
    }

    /// Bytes of message space; also the largest serialized message.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let q: JoinableQueue<String> = JoinableQueue::with(Queue::builder().capacity(1000), None)?;
    /// assert_eq!(q.capacity(), 1024); // rounded up to a power of two
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }

    /// Ends putting through this handle (see [`Queue::close`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, JoinableQueue, PutError};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// q.put(1)?;
    /// q.close();
    /// assert_eq!(q.put(2), Err(PutError::Closed(2)));
    /// assert_eq!(q.get()?, 1); // this handle can still get
    /// q.task_done()?;
    /// assert_eq!(q.get(), Err(GetError::Closed)); // drained, and no writer is left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.q.close();
    }

    /// The name of a named queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{JoinableQueue, Queue};
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder(), Some("doc-jq-name"))?;
    /// assert!(q.name().unwrap().starts_with("/doc-jq-name-"));
    /// assert_eq!(JoinableQueue::<u32>::new()?.name(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.q.name()
    }

    /// The handle for a spawned child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u32> = JoinableQueue::new()?;
    /// let h = q.handle();
    /// assert_eq!(h.to_string(), format!("{}:{}", h.fd, h.size));
    /// let same: JoinableQueue<u32> = JoinableQueue::from_handle(h)?; // as a spawned child does
    /// same.put(1)?;
    /// assert_eq!(q.unfinished(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.q.handle()
    }
}

impl<T: Message> Source for JoinableQueue<T> {
    type Item = T;
    fn pull(&self, wait: Wait) -> Result<T, GetError> {
        self.get_wait(wait)
    }
}

impl<'a, T: Message> IntoIterator for &'a JoinableQueue<T> {
    type Item = Result<T, GetError>;
    type IntoIter = Iter<'a, T, JoinableQueue<T>>;

    /// [`JoinableQueue::iter`].
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
