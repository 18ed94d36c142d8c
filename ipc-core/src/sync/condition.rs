//! `Condition`: a condition variable over a `Lock` or `RLock` in the same segment.
//!
//! Three counters, as in glibc's classic condition variable: `total` waiters ever
//! registered, and one word `wakeup:32 | woken:32 << 32` of signals ever issued and ever
//! consumed, changed by CAS. A waiter registers while it holds the lock (`total += 1`) and
//! remembers `wakeup` as `val`; it may consume a signal (`woken += 1`) only when
//! `wakeup != val` (a signal came after it registered) and `woken != wakeup` (one is left).
//! `notify(n)` issues `min(n, total - wakeup)` signals and wakes the sleepers, which
//! re-check. A waiter that times out with nothing to consume leaves by `wakeup += 1,
//! woken += 1`, which keeps `total - wakeup` the number of waiters still owed a signal.
//!
//! Known gap, as in glibc's classic design: that cancellation moves `wakeup` past the
//! `val` of waiters that registered after an earlier signal, so one of them may take that
//! signal before the waiter it was issued for wakes; that waiter then sleeps on until the
//! next notify (W1 waits; `notify(1)`; X and Y wait; Y times out; X may return in W1's
//! place). Waiters that all wait for the same predicate are not harmed (whichever wakes
//! finds it true); waiters with different predicates should be woken with `notify_all`.
//! The fix (cancel by `total -= 1` under the lock, or glibc 2.25's groups) needs a loom
//! model first.
//!
//! A waiter that dies while waiting stays counted in `total`: a later `notify(1)` may be
//! spent on it (the signal then lets a later waiter return early, a spurious wake-up).
//! `notify_all` always reaches every live waiter.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{AcquireError, LockError};
use super::lock::{RawLock, Took};
use super::rlock::RawRLock;
use super::SharedState;
use super::{kind, my_owner_word, new_segment, Lock, LockGuard, Mapped, RLock, RLockGuard};
use crate::error::{corrupted, Corrupted, OpenError};
use crate::futex::Wake;
use crate::primitive::{AtomicU32, AtomicU64, Ordering};
use crate::segment::{Kind, Segment, SegmentHandle};
use crate::waiter::{deadline_after, EventCount};

/// Where the lock's state starts in a condition's segment.
const LOCK_OFFSET: usize = 64;
/// Bytes kept for the lock's state after `LOCK_OFFSET`.
const LOCK_ROOM: usize = 64;

#[repr(C)]
pub(crate) struct RawCondition {
    /// `wakeup:32 | woken:32 << 32`.
    seq: AtomicU64,
    /// Waiters ever registered.
    total: AtomicU32,
    ec: EventCount,
}

// SAFETY: repr(C), atomics only; all-zero is "nobody waiting".
unsafe impl SharedState for RawCondition {}

// The fixed layout: the condition's state, then the lock's at LOCK_OFFSET.
const _: () = assert!(std::mem::size_of::<RawCondition>() <= LOCK_OFFSET);
const _: () = assert!(std::mem::size_of::<RawLock>() <= LOCK_ROOM);
const _: () = assert!(std::mem::size_of::<RawRLock>() <= LOCK_ROOM);

fn pack(wakeup: u32, woken: u32) -> u64 {
    u64::from(wakeup) | u64::from(woken) << 32
}

impl RawCondition {
    /// Applies `f` to `(wakeup, woken)` with a CAS loop; `f` returns the new pair (or
    /// `None` to leave it) and a result.
    fn update<R>(&self, mut f: impl FnMut(u32, u32) -> (Option<(u32, u32)>, R)) -> R {
        let mut c = self.seq.load(Ordering::SeqCst);
        loop {
            let (new, r) = f(c as u32, (c >> 32) as u32);
            let Some((wakeup, woken)) = new else {
                return r;
            };
            // SYNC: SeqCst orders the counters against the event count's waiter check.
            match self.seq.compare_exchange_weak(
                c,
                pack(wakeup, woken),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return r,
                Err(now) => c = now,
            }
        }
    }

    /// Registers a waiter (with the lock held); returns its `val`.
    fn register(&self) -> u32 {
        // SYNC: Relaxed: the condition's lock orders `total`. We hold it here, and release
        // it (a SeqCst CAS) before sleeping; `notify` is called with the lock held (as
        // Python requires), so its Acquire of the lock makes this increment visible. A
        // notify without the lock may miss a waiter registering at that moment, as in
        // Python.
        self.total.fetch_add(1, Ordering::Relaxed);
        self.seq.load(Ordering::SeqCst) as u32
    }

    /// Consumes a signal issued after the waiter registered, if one is left.
    fn consume(&self, val: u32) -> bool {
        self.update(|wakeup, woken| {
            if wakeup != val && woken != wakeup {
                (Some((wakeup, woken.wrapping_add(1))), true)
            } else {
                (None, false)
            }
        })
    }

    /// A timed-out waiter leaves: consumes a signal if it may (then it was notified), or
    /// cancels its registration.
    fn leave(&self, val: u32) -> bool {
        self.update(|wakeup, woken| {
            if wakeup != val && woken != wakeup {
                (Some((wakeup, woken.wrapping_add(1))), true)
            } else {
                (Some((wakeup.wrapping_add(1), woken.wrapping_add(1))), false)
            }
        })
    }

    fn notify(&self, n: u32) {
        // SYNC: Relaxed, ordered by the lock (see `register`).
        let total = self.total.load(Ordering::Relaxed);
        let k = self.update(|wakeup, woken| {
            // A corrupted count (more owed than could exist) issues nothing.
            let owed = total.wrapping_sub(wakeup);
            let k = if owed > i32::MAX as u32 {
                0
            } else {
                n.min(owed)
            };
            if k == 0 {
                (None, 0)
            } else {
                (Some((wakeup.wrapping_add(k), woken)), k)
            }
        });
        if k > 0 {
            // Wake every sleeper: only those a signal is for can consume it; the rest
            // sleep again.
            self.ec.notify(u32::MAX);
        }
    }

    /// Waiters that have not returned yet.
    fn pending(&self) -> u32 {
        let woken = (self.seq.load(Ordering::SeqCst) >> 32) as u32;
        // SYNC: Relaxed: a snapshot; exact when the caller holds the lock (see `register`).
        self.total.load(Ordering::Relaxed).wrapping_sub(woken)
    }

    /// True if more signals look issued than waiters ever registered: `notify` then
    /// issues nothing, and a waiter without a deadline would sleep for good.
    fn counts_corrupted(&self) -> bool {
        let wakeup = self.seq.load(Ordering::SeqCst) as u32;
        // SYNC: Relaxed, after the SeqCst load of `seq`: a notifier read `total` under the
        // lock before its SeqCst CAS issued signals, so this load sees at least that total,
        // and a sound `total - wakeup` never wraps.
        let total = self.total.load(Ordering::Relaxed);
        total.wrapping_sub(wakeup) > i32::MAX as u32
    }

    /// Sleeps until a signal is consumed (true) or `deadline` passes (false). Looks at
    /// the counters every `POLL` (the event count's longest nap), so corrupted ones are an
    /// error within about that.
    fn sleep(&self, val: u32, deadline: Option<Instant>) -> Result<bool, Corrupted> {
        loop {
            let token = self.ec.prepare();
            if self.consume(val) {
                self.ec.cancel(token);
                return Ok(true);
            }
            if self.counts_corrupted() {
                self.ec.cancel(token);
                self.leave(val);
                return Err(corrupted("condition signal counts exceed its waiters"));
            }
            if self.ec.wait(token, deadline) == Wake::TimedOut {
                return Ok(self.leave(val));
            }
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Lock {}
    impl Sealed for super::RLock {}
}

/// A lock a [`Condition`] can be built over: [`Lock`] or [`RLock`] (sealed).
pub trait ConditionLock: sealed::Sealed + Clone + Sized {
    /// The guard its `acquire` returns.
    type Guard<'a>
    where
        Self: 'a;

    #[doc(hidden)]
    const KIND: Kind;

    #[doc(hidden)]
    fn within(seg: Arc<Segment>, offset: usize) -> Result<Self, OpenError>;

    #[doc(hidden)]
    fn acquire_guard(&self, deadline: Option<Instant>) -> Result<Self::Guard<'_>, LockError>;

    #[doc(hidden)]
    fn owns(&self, guard: &Self::Guard<'_>) -> bool;

    /// Frees the lock completely; returns what `relock` needs.
    #[doc(hidden)]
    fn unlock_for_wait(&self) -> Result<u32, Corrupted>;

    /// Takes the lock back; `true` if a dead holder had to be taken over.
    #[doc(hidden)]
    fn relock(&self, saved: u32) -> Result<bool, Corrupted>;

    /// Records on the guard that a dead holder was taken over.
    #[doc(hidden)]
    fn mark_owner_died(guard: &mut Self::Guard<'_>);
}

impl ConditionLock for Lock {
    type Guard<'a> = LockGuard<'a>;
    const KIND: Kind = kind::CONDITION_LOCK;

    fn within(seg: Arc<Segment>, offset: usize) -> Result<Self, OpenError> {
        Lock::within(seg, offset)
    }

    fn acquire_guard(&self, deadline: Option<Instant>) -> Result<LockGuard<'_>, LockError> {
        match deadline {
            None => self.acquire(),
            Some(d) => self.acquire_deadline(d),
        }
    }

    fn owns(&self, guard: &LockGuard<'_>) -> bool {
        std::ptr::eq(guard.lock().raw(), self.raw())
    }

    fn unlock_for_wait(&self) -> Result<u32, Corrupted> {
        self.raw().release_if(my_owner_word());
        Ok(1)
    }

    fn mark_owner_died(guard: &mut LockGuard<'_>) {
        guard.set_owner_died();
    }

    fn relock(&self, _saved: u32) -> Result<bool, Corrupted> {
        Ok(self.raw().lock_blocking(my_owner_word())? == Took::OwnerDied)
    }
}

impl ConditionLock for RLock {
    type Guard<'a> = RLockGuard<'a>;
    const KIND: Kind = kind::CONDITION_RLOCK;

    fn within(seg: Arc<Segment>, offset: usize) -> Result<Self, OpenError> {
        RLock::within(seg, offset)
    }

    fn acquire_guard(&self, deadline: Option<Instant>) -> Result<RLockGuard<'_>, LockError> {
        match deadline {
            None => self.acquire(),
            Some(d) => self.acquire_deadline(d),
        }
    }

    fn owns(&self, guard: &RLockGuard<'_>) -> bool {
        std::ptr::eq(guard.rlock().raw(), self.raw()) && self.count() > 0
    }

    fn unlock_for_wait(&self) -> Result<u32, Corrupted> {
        self.raw().release_all()
    }

    fn relock(&self, saved: u32) -> Result<bool, Corrupted> {
        Ok(self.raw().restore(saved)? == Took::OwnerDied)
    }

    fn mark_owner_died(guard: &mut RLockGuard<'_>) {
        guard.set_owner_died();
    }
}

/// A process-shared condition variable (Python's `multiprocessing.Condition`), over an
/// [`RLock`] (the default, as Python) or a [`Lock`] that lives in the same segment.
///
/// `wait` releases the lock completely (every level of an RLock), sleeps until notified or
/// timed out, and takes the lock back before returning. Take the lock to share it with other
/// code through [`lock`](Condition::lock) (Python's `Condition(lock)`).
///
/// # Examples
///
/// ```
/// use ipc_core::sync::{Condition, Value};
/// use ipc_core::testing::{fork, reap};
///
/// let cond = Condition::new()?;
/// let ready = Value::new(0u32)?;
/// let child = fork(|| {
///     let _g = cond.acquire().unwrap();
///     ready.set(1);
///     cond.notify_all();
///     0
/// });
/// let mut g = cond.acquire()?;
/// assert!(cond.wait_for(&mut g, || ready.get() == 1)?);
/// drop(g);
/// assert_eq!(reap(child), Ok(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Condition<L: ConditionLock = RLock> {
    raw: Mapped<RawCondition>,
    lock: L,
}

impl<L: ConditionLock> Clone for Condition<L> {
    fn clone(&self) -> Self {
        Condition {
            raw: self.raw.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<L: ConditionLock + fmt::Debug> fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl Condition<RLock> {
    /// A condition over a new [`RLock`], in a nameless segment (Python's default).
    ///
    /// ```
    /// let cond = ipc_core::sync::Condition::new()?;
    /// let _g = cond.acquire()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Condition<RLock>, OpenError> {
        Self::create()
    }
}

type Acquired<'a, L> = Result<<L as ConditionLock>::Guard<'a>, LockError>;

impl<L: ConditionLock> Condition<L> {
    /// A condition over a new lock of type `L`, in a nameless segment.
    ///
    /// ```
    /// use ipc_core::sync::{Condition, Lock};
    /// let cond = Condition::<Lock>::create()?;
    /// let _g = cond.acquire()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create() -> Result<Self, OpenError> {
        Self::build(None)
    }

    /// A named condition (`/{prefix}-{random}`) for unrelated programs.
    ///
    /// ```
    /// use ipc_core::sync::{Condition, RLock};
    /// let c = Condition::<RLock>::create_named("doc-cond")?;
    /// let d = Condition::<RLock>::open_named(c.name().unwrap())?;
    /// d.notify_all();
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str) -> Result<Self, OpenError> {
        Self::build(Some(prefix))
    }

    fn build(prefix: Option<&str>) -> Result<Self, OpenError> {
        let seg = new_segment(LOCK_OFFSET + LOCK_ROOM, L::KIND, prefix)?;
        seg.mark_initialized();
        Self::attach(seg)
    }

    fn attach(seg: Segment) -> Result<Self, OpenError> {
        let seg = Arc::new(seg);
        Ok(Condition {
            raw: Mapped::at(seg.clone(), 0)?,
            lock: L::within(seg, LOCK_OFFSET)?,
        })
    }

    /// Opens a condition created by another program with [`create_named`](Self::create_named).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Condition, Lock, RLock};
    ///
    /// let c = Condition::<Lock>::create_named("doc-cond")?;
    /// let name = c.name().expect("named");
    /// let d = Condition::<Lock>::open_named(name)?; // e.g. in an unrelated program
    /// let _g = d.acquire()?;
    /// assert!(c.lock().locked()); // one lock, two mappings
    /// assert!(Condition::<RLock>::open_named(name).is_err()); // over another lock type
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_named(name: &str) -> Result<Self, OpenError> {
        Self::attach(Segment::open_named(name, L::KIND)?)
    }

    /// Maps the condition again in a spawned child (see [`handle`](Self::handle)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Condition, Lock, RLock};
    ///
    /// let c = Condition::<Lock>::create()?;
    /// let d = Condition::<Lock>::from_handle(c.handle())?; // as a spawned child would
    /// let _g = d.acquire()?;
    /// assert!(c.lock().locked());
    /// assert!(Condition::<RLock>::from_handle(c.handle()).is_err()); // another lock type
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<Self, OpenError> {
        Self::attach(Segment::from_handle(handle, L::KIND)?)
    }

    /// The fd and size a spawned child needs for [`from_handle`](Self::from_handle).
    ///
    /// ```
    /// use ipc_core::sync::Condition;
    /// let c = Condition::new()?;
    /// let d = Condition::<ipc_core::sync::RLock>::from_handle(c.handle())?;
    /// let _g = d.acquire()?;
    /// assert!(c.lock().locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.raw.segment().handle()
    }

    /// The name of a named condition.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Condition, RLock};
    ///
    /// assert_eq!(Condition::new()?.name(), None);
    /// let named = Condition::<RLock>::create_named("doc-cond")?;
    /// assert!(named.name().is_some_and(|n| n.starts_with("/doc-cond-")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.raw.segment().name()
    }

    /// The condition's lock, to use elsewhere as a plain lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = ipc_core::sync::Condition::new()?;
    /// let mut g = cond.lock().acquire()?; // the same lock `cond.acquire()` takes
    /// assert_eq!(cond.lock().count(), 1);
    /// assert!(!cond.wait_timeout(&mut g, Duration::from_millis(10))?); // so its guard fits
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the condition's lock (Python's `cond.acquire()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Condition, Lock, LockError};
    ///
    /// let cond = Condition::<Lock>::create()?;
    /// let g = cond.acquire()?;
    /// assert!(cond.lock().locked());
    /// assert_eq!(cond.lock().try_acquire().unwrap_err(), LockError::WouldBlock);
    /// drop(g);
    /// assert!(!cond.lock().locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self) -> Acquired<'_, L> {
        self.lock.acquire_guard(None)
    }

    /// Acquires the condition's lock, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = ipc_core::sync::Condition::new()?;
    /// let _g = c.acquire_timeout(Duration::from_millis(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Acquired<'_, L> {
        self.lock.acquire_guard(deadline_after(timeout))
    }

    /// Releases the lock, sleeps until notified, takes the lock back.
    ///
    /// Errors: [`AcquireError::NotOwner`] if `guard` is not of this condition's lock;
    /// if a holder died while we slept, the lock is taken over, which is no error (check the
    /// guard's `owner_died()` again); [`AcquireError::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{AcquireError, Condition};
    ///
    /// let cond = Condition::new()?;
    /// let mut g = cond.acquire()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let _g = cond.acquire().unwrap(); // once `wait` has released it
    ///         cond.notify(1);
    ///     });
    ///     cond.wait(&mut g) // holds the lock again when it returns
    /// })?;
    /// let other = Condition::new()?;
    /// let mut foreign = other.acquire()?;
    /// assert_eq!(cond.wait(&mut foreign), Err(AcquireError::NotOwner));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self, guard: &mut L::Guard<'_>) -> Result<(), AcquireError> {
        self.wait_until(guard, None).map(|_| ())
    }

    /// As [`wait`](Self::wait), for at most `timeout`: `Ok(false)` if it timed out (the lock
    /// is held again either way, as Python's `wait(timeout)` returning `False`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = ipc_core::sync::Condition::new()?;
    /// let mut g = c.acquire()?;
    /// assert!(!c.wait_timeout(&mut g, Duration::from_millis(5))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(
        &self,
        guard: &mut L::Guard<'_>,
        timeout: Duration,
    ) -> Result<bool, AcquireError> {
        self.wait_until(guard, deadline_after(timeout))
    }

    /// Waits until `predicate()` holds (checked with the lock held); returns its last value.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Condition, Value};
    ///
    /// let (cond, ready) = (Condition::new()?, Value::new(0u32)?);
    /// let mut g = cond.acquire()?;
    /// let ok = std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let _g = cond.acquire().unwrap();
    ///         ready.set(1);
    ///         cond.notify_all();
    ///     });
    ///     cond.wait_for(&mut g, || ready.get() == 1)
    /// })?;
    /// assert!(ok);
    /// assert!(cond.wait_for(&mut g, || true)?); // already true: no wait
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for(
        &self,
        guard: &mut L::Guard<'_>,
        predicate: impl FnMut() -> bool,
    ) -> Result<bool, AcquireError> {
        self.wait_for_until(guard, None, predicate)
    }

    /// As [`wait_for`](Self::wait_for), for at most `timeout` (Python's
    /// `wait_for(predicate, timeout)`): `Ok(false)` if the predicate still fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = ipc_core::sync::Condition::new()?;
    /// let mut g = c.acquire()?;
    /// assert!(!c.wait_for_timeout(&mut g, Duration::from_millis(5), || false)?);
    /// assert!(c.wait_for_timeout(&mut g, Duration::from_millis(5), || true)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_timeout(
        &self,
        guard: &mut L::Guard<'_>,
        timeout: Duration,
        predicate: impl FnMut() -> bool,
    ) -> Result<bool, AcquireError> {
        self.wait_for_until(guard, deadline_after(timeout), predicate)
    }

    fn wait_for_until(
        &self,
        guard: &mut L::Guard<'_>,
        deadline: Option<Instant>,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<bool, AcquireError> {
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            self.wait_until(guard, deadline)?;
        }
    }

    fn wait_until(
        &self,
        guard: &mut L::Guard<'_>,
        deadline: Option<Instant>,
    ) -> Result<bool, AcquireError> {
        if !self.lock.owns(guard) {
            return Err(AcquireError::NotOwner);
        }
        let val = self.raw.register();
        let saved = match self.lock.unlock_for_wait() {
            Ok(saved) => saved,
            Err(e) => {
                self.raw.leave(val);
                return Err(e.into());
            }
        };
        let slept = self.raw.sleep(val, deadline);
        if self.lock.relock(saved)? {
            L::mark_owner_died(guard);
        }
        Ok(slept?)
    }

    /// Wakes up to `n` waiters (Python's `notify(n)`). Call it holding the lock, as Python
    /// requires, so that a waiter about to sleep is not missed.
    ///
    /// Unlike Python, the signal is not reserved for the waiters present at the call: when
    /// another waiter times out meanwhile, one that started waiting after the call may
    /// take it, and a waiter present at the call sleeps on. Waiters for different
    /// predicates should be woken with [`notify_all`](Self::notify_all).
    ///
    /// ```
    /// let c = ipc_core::sync::Condition::new()?;
    /// let _g = c.acquire()?;
    /// c.notify(1); // nobody waits: nothing happens
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify(&self, n: u32) {
        self.raw.notify(n);
    }

    /// Waiters that have not yet returned from `wait` (notified ones included until they
    /// wake); 0 when the condition is idle. A process killed while it waited stays counted:
    /// nothing records who waits, only how many.
    ///
    /// ```
    /// assert_eq!(ipc_core::sync::Condition::new()?.n_waiting(), 0);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn n_waiting(&self) -> u32 {
        self.raw.pending()
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// let c = ipc_core::sync::Condition::new()?;
    /// c.notify_all();
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn notify_all(&self) {
        self.raw.notify(u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters corrupted so that more signals look issued than waiters ever registered
    /// make `notify` issue nothing; a waiter with no deadline then slept for good. It now
    /// sees the corruption within a `POLL` and gets an error, with the lock held again.
    #[test]
    fn corrupted_counters_are_an_error_not_a_hang() {
        let _w = crate::testing::watchdog("corrupted_counters", 30);
        let c = Condition::new().unwrap();
        let mut g = c.acquire().unwrap();
        let total = c.raw.total.load(Ordering::SeqCst);
        c.raw
            .seq
            .store(pack(total.wrapping_add(5), 0), Ordering::SeqCst);
        assert!(matches!(c.wait(&mut g), Err(AcquireError::Corrupted(_))));
        c.notify(1); // still holding the lock: `notify` asks for it
        drop(g);
    }
}
