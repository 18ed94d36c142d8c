//! Where results land: one store per call, read through [`AsyncResult`], [`MapResult`]
//! and [`Imap`].

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{NotReady, TaskError};

pub(crate) type Callback<R> = Box<dyn FnOnce(&R) + Send>;
pub(crate) type ErrorCallback = Box<dyn FnOnce(&TaskError) + Send>;

/// The results of one call (`apply_async`: one item; `map_async`, `imap`: many), filled by
/// the pool's result thread.
pub(crate) struct Store<R> {
    inner: Mutex<Inner<R>>,
    cv: Condvar,
    total: usize,
    /// The pool whose supervisor fills it (its address): waiting on that thread deadlocks.
    pool: usize,
}

/// One item's place in a [`Store`].
enum Slot<R> {
    /// No result yet.
    Pending,
    Ready(Result<R, TaskError>),
    /// Its result was handed out. Not `Pending` again: a late failure (`fail_rest` on
    /// terminate) must not fill it a second time.
    Taken,
}

impl<R> Slot<R> {
    /// Hands the result out (callers take only once it is ready).
    fn take(&mut self) -> Result<R, TaskError> {
        match std::mem::replace(self, Slot::Taken) {
            Slot::Ready(r) => r,
            Slot::Pending => {
                *self = Slot::Pending;
                Err(TaskError::AlreadyTaken)
            }
            Slot::Taken => Err(TaskError::AlreadyTaken),
        }
    }
}

struct Inner<R> {
    items: Vec<Slot<R>>,
    /// Indices in the order they arrived: kept only for `imap_unordered`, the one reader.
    arrivals: Option<VecDeque<usize>>,
    done: usize,
    /// Items done with an error: `successful` must not forget one once it is taken.
    failed: usize,
    /// Iterators waiting for the next item (not for all): they need a wake per arrival.
    waiting_for_next: usize,
    callback: Option<Callback<R>>,
    error_callback: Option<ErrorCallback>,
}

impl<R> Store<R> {
    /// A store for `total` items; `unordered` keeps their arrival order (`imap_unordered`).
    pub(crate) fn new(total: usize, unordered: bool, pool: usize) -> Arc<Store<R>> {
        Arc::new(Store {
            inner: Mutex::new(Inner {
                items: (0..total).map(|_| Slot::Pending).collect(),
                arrivals: unordered.then(VecDeque::new),
                done: 0,
                failed: 0,
                waiting_for_next: 0,
                callback: None,
                error_callback: None,
            }),
            cv: Condvar::new(),
            total,
            pool,
        })
    }

    pub(crate) fn with_callbacks(
        total: usize,
        callback: Option<Callback<R>>,
        error_callback: Option<ErrorCallback>,
        pool: usize,
    ) -> Arc<Store<R>> {
        let s = Store::new(total, false, pool);
        {
            let mut i = s.inner.lock();
            i.callback = callback;
            i.error_callback = error_callback;
        }
        s
    }

    /// Stores the results of items `start..start + results.len()`. The callbacks (one-item
    /// stores) run here, in the result thread, before the result becomes ready, as Python's.
    pub(crate) fn fill(&self, start: usize, results: Vec<Result<R, TaskError>>) {
        let n = results.len();
        let mut inner = self.inner.lock();
        if inner.done + n >= self.total
            && (inner.callback.is_some() || inner.error_callback.is_some())
        {
            let (cb, ecb) = (inner.callback.take(), inner.error_callback.take());
            drop(inner);
            run_callbacks(&results, cb, ecb);
            inner = self.inner.lock();
        }
        for (k, r) in results.into_iter().enumerate() {
            inner.put(start + k, r);
        }
        self.wake(inner);
    }

    /// Fails every item not yet done (the pool was terminated), under one lock.
    pub(crate) fn fail_rest(&self, e: &TaskError) {
        let mut inner = self.inner.lock();
        if inner.done == self.total {
            return;
        }
        // A one-item store with callbacks: its item is the missing one.
        let (cb, ecb) = (inner.callback.take(), inner.error_callback.take());
        if cb.is_some() || ecb.is_some() {
            drop(inner);
            run_callbacks::<R>(&[Err(e.clone())], cb, ecb);
            inner = self.inner.lock();
        }
        for i in 0..self.total {
            inner.put(i, Err(e.clone())); // only those with no result yet
        }
        self.wake(inner);
    }

    /// Wakes the waiters after items arrived. Waiters for the whole call need one wake,
    /// at the end; iterators need one per arrival. A wake per chunk for nobody costs a
    /// futex call each.
    fn wake(&self, inner: MutexGuard<'_, Inner<R>>) {
        let wake = inner.done == self.total || inner.waiting_for_next > 0;
        drop(inner);
        if wake {
            self.cv.notify_all();
        }
    }

    pub(crate) fn done(&self) -> usize {
        self.inner.lock().done
    }

    /// True once every item is done.
    fn ready(&self) -> bool {
        self.done() == self.total
    }

    /// Whether every item succeeded; [`NotReady`] before all are done.
    fn successful(&self) -> Result<bool, NotReady> {
        let inner = self.inner.lock();
        if inner.done < self.total {
            return Err(NotReady);
        }
        Ok(inner.failed == 0)
    }

    /// Refuses, with a panic that says why, to wait for good on the thread that would
    /// have to deliver what is waited for: a result callback of this store's pool.
    fn not_on_own_supervisor(&self) {
        if crate::supervisor::IN_SUPERVISOR.get() == self.pool {
            panic!(
                "mp-pool: a result callback waited, without a timeout, for a result of its \
                 own pool; callbacks run on the thread that delivers the results, so it \
                 would wait for good"
            );
        }
    }

    /// Waits until every item is done or `deadline` passes; true if done.
    fn wait_all(&self, deadline: Option<Instant>) -> bool {
        let mut inner = self.inner.lock();
        while inner.done < self.total {
            match deadline {
                None => {
                    self.not_on_own_supervisor(); // (a panic releases the lock)
                    self.cv.wait(&mut inner)
                }
                Some(d) => {
                    if self.cv.wait_until(&mut inner, d).timed_out() && inner.done < self.total {
                        return false;
                    }
                }
            }
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn take_all_for_test(&self) -> Vec<Result<R, TaskError>> {
        self.take_all()
    }

    fn take_all(&self) -> Vec<Result<R, TaskError>> {
        let mut inner = self.inner.lock();
        inner.items.iter_mut().map(Slot::take).collect()
    }

    /// Takes item `i`'s result.
    fn take(&self, i: usize) -> Result<R, TaskError> {
        self.inner.lock().items[i].take()
    }
}

impl<R> Inner<R> {
    /// Stores item `i`'s result unless it already has one.
    fn put(&mut self, i: usize, r: Result<R, TaskError>) {
        let slot = &mut self.items[i];
        if matches!(slot, Slot::Pending) {
            self.failed += usize::from(r.is_err());
            *slot = Slot::Ready(r);
            self.done += 1;
            if let Some(a) = &mut self.arrivals {
                a.push_back(i);
            }
        }
    }
}

/// Runs the callback that fits the first result. A panic in it is caught and reported
/// (the panic hook has printed its message): the result is still delivered, and the
/// thread running it, the pool's supervisor most often, goes on. (Python's result thread
/// dies of an exception in a callback, and the pool hangs.)
fn run_callbacks<R>(
    results: &[Result<R, TaskError>],
    cb: Option<Callback<R>>,
    ecb: Option<ErrorCallback>,
) {
    let Some(r) = results.first() else { return };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match r {
        Ok(v) => {
            if let Some(cb) = cb {
                cb(v);
            }
        }
        Err(e) => {
            if let Some(ecb) = ecb {
                ecb(e);
            }
        }
    }));
    if ran.is_err() {
        // Not `eprintln!`, which panics when stderr is a closed pipe.
        let _ = writeln!(
            std::io::stderr(),
            "mp-pool: a result callback panicked; its result is delivered all the same"
        );
    }
}

/// The pending result of [`Pool::apply_async`](crate::Pool::apply_async): Python's
/// `AsyncResult`.
///
/// # Examples
///
/// ```
/// # mp_process::hook!();
/// use mp_pool::Pool;
///
/// let pool = Pool::new(2)?;
/// let r = pool.apply_async(|x: u64| x * 2, 21)?;
/// r.wait();
/// assert!(r.ready());
/// assert_eq!(r.successful(), Ok(true));
/// assert_eq!(r.get(), Ok(42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncResult<R> {
    pub(crate) store: Arc<Store<R>>,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<R> AsyncResult<R> {
    /// Waits for the result and returns it (or why there is none).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// assert_eq!(pool.apply_async(|x: u32| x + 1, 1)?.get(), Ok(2));
    /// let r = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 10_000)?;
    /// pool.terminate();
    /// assert_eq!(r.get(), Err(TaskError::Terminated));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(self) -> Result<R, TaskError> {
        self.store.wait_all(None);
        self.store.take(0)
    }

    /// Waits at most `timeout`: the result, or [`TaskError::Timeout`] with the task still
    /// pending (call again later).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let sleep = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let r = pool.apply_async(sleep, 300)?;
    /// assert_eq!(r.get_timeout(Duration::from_millis(10)), Err(TaskError::Timeout));
    /// assert_eq!(r.get_timeout(Duration::MAX), Ok(300)); // no deadline at all
    /// assert_eq!(r.get_timeout(Duration::ZERO), Err(TaskError::AlreadyTaken));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, TaskError> {
        if !self.store.wait_all(ipc_core::deadline_after(timeout)) {
            return Err(TaskError::Timeout);
        }
        self.store.take(0)
    }

    /// Waits until the result is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(1)?;
    /// let r = pool.apply_async(|x: u32| x + 1, 1)?;
    /// r.wait();
    /// assert!(r.ready());
    /// assert_eq!(r.get(), Ok(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) {
        self.store.wait_all(None);
    }

    /// Waits at most `timeout`; true if the result is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = mp_pool::Pool::new(1)?;
    /// let r = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300)?;
    /// let t = Instant::now();
    /// assert!(!r.wait_timeout(Duration::from_millis(10))); // still running
    /// assert!(t.elapsed() >= Duration::from_millis(10));
    /// pool.terminate();
    /// assert!(r.wait_timeout(Duration::ZERO)); // failed with `Terminated`: ready too
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.store.wait_all(ipc_core::deadline_after(timeout))
    }

    /// True once the result (or its error) is in.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    ///
    /// let pool = mp_pool::Pool::new(1)?;
    /// let r = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300)?;
    /// assert!(!r.ready());
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready(&self) -> bool {
        self.store.ready()
    }

    /// Whether the task succeeded; [`NotReady`] before it is done (Python's ValueError).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{NotReady, Pool};
    ///
    /// let pool = Pool::new(1)?;
    /// let slow = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300)?;
    /// assert_eq!(slow.successful(), Err(NotReady));
    /// let bad = pool.apply_async(|x: u32| 1 / x, 0)?; // panics in the worker
    /// bad.wait();
    /// assert_eq!(bad.successful(), Ok(false));
    /// assert_eq!(slow.successful(), Ok(true)); // done first: one worker takes them in turn
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn successful(&self) -> Result<bool, NotReady> {
        self.store.successful()
    }
}

/// The pending results of [`Pool::map_async`](crate::Pool::map_async) (and
/// `starmap_async`): one `Result` per item, in the order of the items.
///
/// # Examples
///
/// ```
/// # mp_process::hook!();
/// use mp_pool::Pool;
///
/// let pool = Pool::new(2)?;
/// let r = pool.map_async(|x: u32| x + 1, vec![1, 2, 3], None)?;
/// let (done, total) = r.progress(); // for a progress bar
/// assert!(done <= total && total == 3);
/// let out: Vec<u32> = r.get().into_iter().collect::<Result<_, _>>()?;
/// assert_eq!(out, [2, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MapResult<R> {
    pub(crate) store: Arc<Store<R>>,
}

impl<R> fmt::Debug for MapResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (done, total) = self.progress();
        f.debug_struct("MapResult")
            .field("done", &done)
            .field("total", &total)
            .finish()
    }
}

impl<R> MapResult<R> {
    /// Waits for every item; one `Result` per item, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(2)?;
    /// let out = pool.map_async(|x: u32| 10 / x, [5, 0, 2], Some(1))?.get();
    /// assert_eq!(out[0], Ok(2));
    /// assert!(matches!(out[1], Err(TaskError::Panicked(_))));
    /// assert_eq!(out[2], Ok(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(self) -> Vec<Result<R, TaskError>> {
        self.store.wait_all(None);
        self.store.take_all()
    }

    /// Waits at most `timeout`: every item's result, or [`TaskError::Timeout`] with the
    /// work still going (call again later).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(2)?;
    /// let sleep = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let r = pool.map_async(sleep, [300, 1], Some(1))?;
    /// assert_eq!(r.get_timeout(Duration::from_millis(10)), Err(TaskError::Timeout));
    /// assert_eq!(r.get_timeout(Duration::MAX)?, [Ok(300), Ok(1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<Result<R, TaskError>>, TaskError> {
        if !self.store.wait_all(ipc_core::deadline_after(timeout)) {
            return Err(TaskError::Timeout);
        }
        Ok(self.store.take_all())
    }

    /// Waits until every item is done.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// let r = pool.map_async(|x: u32| x + 1, 0..4, None)?;
    /// r.wait();
    /// assert_eq!(r.progress(), (4, 4));
    /// assert_eq!(r.get(), [Ok(1), Ok(2), Ok(3), Ok(4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) {
        self.store.wait_all(None);
    }

    /// Waits at most `timeout`; true if every item is done.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = mp_pool::Pool::new(2)?;
    /// let sleep = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let r = pool.map_async(sleep, [300, 1], None)?;
    /// let t = Instant::now();
    /// assert!(!r.wait_timeout(Duration::from_millis(10))); // not every item is done
    /// assert!(t.elapsed() >= Duration::from_millis(10));
    /// assert!(r.wait_timeout(Duration::MAX));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.store.wait_all(ipc_core::deadline_after(timeout))
    }

    /// True once every item is done.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    ///
    /// let pool = mp_pool::Pool::new(2)?;
    /// let sleep = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let r = pool.map_async(sleep, [300, 1], None)?;
    /// assert!(!r.ready());
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready(&self) -> bool {
        self.store.ready()
    }

    /// Whether every item succeeded; [`NotReady`] before all are done.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{NotReady, Pool};
    ///
    /// let pool = Pool::new(2)?;
    /// let slow_div = |x: u32| { std::thread::sleep(Duration::from_millis(300)); 1 / x };
    /// let r = pool.map_async(slow_div, [1, 0], Some(1))?;
    /// assert_eq!(r.successful(), Err(NotReady));
    /// r.wait();
    /// assert_eq!(r.successful(), Ok(false)); // the item 0 panicked
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn successful(&self) -> Result<bool, NotReady> {
        self.store.successful()
    }

    /// `(done, total)` items: enough to draw a progress bar.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// let r = pool.map_async(|x: u32| x + 1, 0..10, Some(1))?;
    /// let (done, total) = r.progress();
    /// assert!(done <= total && total == 10);
    /// r.wait();
    /// assert_eq!(r.progress(), (10, 10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn progress(&self) -> (usize, usize) {
        (self.store.done(), self.store.total)
    }
}

/// The results of [`Pool::imap`](crate::Pool::imap) (in order) or
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered) (as they finish), as an iterator.
///
/// # Examples
///
/// ```
/// # mp_process::hook!();
/// use mp_pool::Pool;
///
/// let pool = Pool::new(2)?;
/// let mut it = pool.imap(|x: u64| x * x, 0..5u64, None)?;
/// assert_eq!(it.next(), Some(Ok(0)));
/// let rest: Vec<u64> = it.map(Result::unwrap).collect();
/// assert_eq!(rest, [1, 4, 9, 16]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Imap<R> {
    pub(crate) store: Arc<Store<R>>,
    pub(crate) ordered: bool,
    pub(crate) yielded: usize,
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (done, total) = self.progress();
        f.debug_struct("Imap")
            .field("ordered", &self.ordered)
            .field("done", &done)
            .field("total", &total)
            .finish()
    }
}

impl<R> Imap<R> {
    /// `(done, total)` items finished by the workers (not necessarily yielded yet).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// let mut it = pool.imap(|x: u32| x + 1, 0..4, None)?;
    /// assert_eq!(it.progress().1, 4);
    /// assert_eq!(it.by_ref().count(), 4);
    /// assert_eq!(it.progress(), (4, 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn progress(&self) -> (usize, usize) {
        (self.store.done(), self.store.total)
    }

    /// The next result, waiting at most `timeout`: `Some(Err(TaskError::Timeout))` if
    /// none came in time (Python's `next(timeout)`), `None` after the last.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// let sleep = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let mut it = pool.imap(sleep, [300], None)?;
    /// assert_eq!(it.next_timeout(Duration::from_millis(10)), Some(Err(TaskError::Timeout)));
    /// assert_eq!(it.next_timeout(Duration::MAX), Some(Ok(300)));
    /// assert_eq!(it.next_timeout(Duration::MAX), None); // after the last
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, TaskError>> {
        self.next_deadline(ipc_core::deadline_after(timeout))
    }

    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<Result<R, TaskError>> {
        let store = &self.store;
        if self.yielded == store.total {
            return None;
        }
        let mut inner = store.inner.lock();
        let mut timed_out = false;
        loop {
            let ready = if self.ordered {
                matches!(inner.items[self.yielded], Slot::Ready(_)).then_some(self.yielded)
            } else {
                inner.arrivals.as_mut().and_then(VecDeque::pop_front)
            };
            if let Some(i) = ready {
                self.yielded += 1;
                return Some(inner.items[i].take());
            }
            if timed_out {
                return Some(Err(TaskError::Timeout)); // and nothing came at the last moment
            }
            inner.waiting_for_next += 1;
            timed_out = match deadline {
                None => {
                    if crate::supervisor::IN_SUPERVISOR.get() == store.pool {
                        inner.waiting_for_next -= 1;
                        drop(inner);
                        store.not_on_own_supervisor();
                        inner = store.inner.lock();
                        inner.waiting_for_next += 1;
                    }
                    store.cv.wait(&mut inner);
                    false
                }
                Some(d) => store.cv.wait_until(&mut inner, d).timed_out(),
            };
            inner.waiting_for_next -= 1;
        }
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_deadline(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.store.total - self.yielded;
        (left, Some(left))
    }
}
