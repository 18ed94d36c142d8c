//! `RLock`: a recursive process-shared lock owned by one thread of one process.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{LockError, ReleaseError};
use super::lock::{Probe, RawLock, Took};
use super::{kind, new_segment, thread_word, Mapped, SharedState};
use crate::error::{corrupted, Corrupted, OpenError};
use crate::primitive::{AtomicU32, Ordering};
use crate::segment::Segment;
use crate::waiter::deadline_after;

/// The shared state: a lock word naming the owning thread, and the recursion depth.
#[repr(C)]
pub(crate) struct RawRLock {
    lock: RawLock,
    /// Recursion depth; written only by the owner while it holds `lock`.
    count: AtomicU32,
}

// SAFETY: repr(C), atomics only; all-zero is "free".
unsafe impl SharedState for RawRLock {}

impl RawRLock {
    /// Takes one more level for the calling thread; `lock` takes the lock word when the
    /// thread does not hold it yet.
    fn acquire(
        &self,
        lock: impl FnOnce(&RawLock, u64) -> Result<Took, LockError>,
    ) -> Result<Took, LockError> {
        let me = thread_word();
        if self.lock.word.load(Ordering::Relaxed) == me {
            // Only this thread writes `count` while it owns the lock.
            let c = self.count.load(Ordering::Relaxed);
            let next = c
                .checked_add(1)
                .filter(|_| c != 0)
                .ok_or(corrupted("RLock held with an impossible recursion count"))?;
            self.count.store(next, Ordering::Relaxed);
            return Ok(Took::Fresh);
        }
        let took = lock(&self.lock, me)?;
        self.count.store(1, Ordering::Relaxed);
        Ok(took)
    }

    /// Drops one level; frees the lock at zero.
    fn release(&self) -> Result<(), ReleaseError> {
        let me = thread_word();
        if self.lock.word.load(Ordering::Relaxed) != me {
            return Err(ReleaseError::NotOwner);
        }
        match self.count.load(Ordering::Relaxed) {
            0 => Err(corrupted("RLock held with a recursion count of zero").into()),
            1 => {
                self.count.store(0, Ordering::Relaxed);
                self.lock.release_if(me);
                Ok(())
            }
            c => {
                self.count.store(c - 1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Frees every level at once (a condition wait); returns the depth to restore.
    pub(crate) fn release_all(&self) -> Result<u32, Corrupted> {
        let me = thread_word();
        if self.lock.word.load(Ordering::Relaxed) != me {
            return Err(corrupted(
                "RLock guard alive but the lock names another owner",
            ));
        }
        let c = self.count.swap(0, Ordering::Relaxed);
        self.lock.release_if(me);
        Ok(c.max(1))
    }

    /// Takes the lock back with depth `count` after [`release_all`](Self::release_all).
    pub(crate) fn restore(&self, count: u32) -> Result<Took, Corrupted> {
        let took = self.lock.lock_blocking(thread_word())?;
        self.count.store(count, Ordering::Relaxed);
        Ok(took)
    }
}

/// A recursive process-shared lock (Python's `multiprocessing.RLock`).
///
/// The thread that holds it may acquire it again; it is free once every level is released.
/// Only the holding thread may release it. If the holding thread (or its process) dies,
/// the next acquirer gets it at depth one with [`RLockGuard::owner_died`] set. One
/// exception: a main thread that exits (`pthread_exit`) while holding it, in a process
/// whose other threads go on, is named like its process, so the lock is recovered only
/// once the whole process has exited.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::RLock;
///
/// let rlock = RLock::new()?;
/// let a = rlock.acquire()?;
/// let b = rlock.acquire()?; // the same thread: recursion
/// assert_eq!(rlock.count(), 2);
/// drop(b);
/// drop(a);
/// assert_eq!(rlock.count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    raw: Mapped<RawRLock>,
    probe: Probe,
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.locked())
            .finish_non_exhaustive()
    }
}

/// One level of an [`RLock`]; releases that level on drop. Not `Send`: an RLock belongs to
/// a thread.
///
/// ```compile_fail
/// // A guard cannot move to another thread, which would then release this thread's level.
/// let lock = ipc_core::sync::RLock::new().unwrap();
/// let guard = lock.acquire().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard));
/// });
/// ```
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("owner_died", &self.owner_died)
            .finish_non_exhaustive()
    }
}

type Acquired<'a> = Result<RLockGuard<'a>, LockError>;

impl RLock {
    /// Creates a free RLock in a nameless segment.
    ///
    /// ```
    /// assert!(!ipc_core::sync::RLock::new()?.locked());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn new() -> Result<RLock, OpenError> {
        Self::build(None)
    }

    /// Creates a named RLock (`/{prefix}-{random}`) for unrelated programs.
    ///
    /// ```
    /// use ipc_core::sync::RLock;
    /// let r = RLock::create_named("doc-rlock")?;
    /// let again = RLock::open_named(r.name().unwrap())?;
    /// let _g = again.acquire()?;
    /// assert_eq!(r.count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(prefix: &str) -> Result<RLock, OpenError> {
        Self::build(Some(prefix))
    }

    fn build(prefix: Option<&str>) -> Result<RLock, OpenError> {
        let seg = new_segment(std::mem::size_of::<RawRLock>(), kind::RLOCK, prefix)?;
        seg.mark_initialized();
        Self::attach(seg)
    }

    fn attach(seg: Segment) -> Result<RLock, OpenError> {
        Self::within(Arc::new(seg), 0)
    }

    pub(crate) fn within(seg: Arc<Segment>, offset: usize) -> Result<RLock, OpenError> {
        Ok(RLock {
            raw: Mapped::at(seg, offset)?,
            probe: Probe::new(),
        })
    }

    fn segment(&self) -> &Segment {
        self.raw.segment()
    }

    pub(crate) fn raw(&self) -> &RawRLock {
        &self.raw
    }

    fn take(&self, deadline: Option<Instant>, block: bool) -> Acquired<'_> {
        let took = self.raw.acquire(|lock, me| {
            if block {
                lock.lock(me, deadline, &self.probe)
            } else {
                lock.try_lock(me, &self.probe)
            }
        })?;
        Ok(RLockGuard {
            rlock: self,
            owner_died: took == Took::OwnerDied,
            _not_send: PhantomData,
        })
    }

    /// Blocks until this thread holds one more level.
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// let _g = r.acquire()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self) -> Acquired<'_> {
        self.take(None, true)
    }

    /// Blocks for at most `timeout`; [`LockError::Timeout`] if another thread kept it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = ipc_core::sync::RLock::new()?;
    /// let _g = r.acquire_timeout(Duration::from_millis(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Acquired<'_> {
        self.take(deadline_after(timeout), true)
    }

    /// Blocks until `deadline` at most.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let r = ipc_core::sync::RLock::new()?;
    /// let _g = r.acquire_deadline(Instant::now() + Duration::from_millis(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_deadline(&self, deadline: Instant) -> Acquired<'_> {
        self.take(Some(deadline), true)
    }

    /// Takes a level only if the lock is free or already this thread's. A dead holder is
    /// taken over; each handle checks its liveness at most once per [`POLL`](super::POLL).
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// let _a = r.try_acquire()?;
    /// let _b = r.try_acquire()?; // recursion never blocks
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Acquired<'_> {
        self.take(None, false)
    }

    /// Releases one level held by this thread without a guard (pair with
    /// [`RLockGuard::leak`]); [`ReleaseError::NotOwner`] from any other thread.
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// r.acquire()?.leak();
    /// r.release()?;
    /// assert!(r.release().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.raw.release()
    }

    /// True while some thread holds the lock.
    ///
    /// ```
    /// assert!(!ipc_core::sync::RLock::new()?.locked());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.lock.word.load(Ordering::Relaxed) != 0
    }

    /// The recursion depth if the calling thread holds the lock, else 0.
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// let _g = r.acquire()?;
    /// assert_eq!(r.count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(&self) -> u32 {
        if self.raw.lock.word.load(Ordering::Relaxed) == thread_word() {
            self.raw.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

super::segment_api!(RLock, kind::RLOCK, "RLock::new()");

impl RLockGuard<'_> {
    /// True if the previous holder died holding the lock and this acquire took it over:
    /// check or repair the data it protects.
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// assert!(!r.acquire()?.owner_died());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    pub(crate) fn set_owner_died(&mut self) {
        self.owner_died = true;
    }

    /// Keeps this level held without a guard; release it later with [`RLock::release`].
    ///
    /// ```
    /// let r = ipc_core::sync::RLock::new()?;
    /// r.acquire()?.leak();
    /// assert_eq!(r.count(), 1);
    /// # r.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leak(self) {
        std::mem::forget(self);
    }

    pub(crate) fn rlock(&self) -> &RLock {
        self.rlock
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.rlock.raw.release();
    }
}
