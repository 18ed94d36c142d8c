//! `Lock`: a process-shared mutex whose word names its owner, so a dead owner is detected.
//!
//! The word protocol (shared with `RLock`) is in `sync/README.md`.

use std::fmt;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{LockError, ReleaseError};
use super::{
    check_owner, kind, my_owner_word, new_segment, owner_alive, Mapped, SharedState, POLL,
};
use crate::error::{corrupted, Corrupted, OpenError};
use crate::futex::Wake;
use crate::primitive::{AtomicU64, Ordering};
use crate::segment::Segment;
use crate::waiter::{deadline_after, Backoff, EventCount};

/// The shared state of a lock: the owner word and an event count to sleep on.
#[repr(C)]
pub(crate) struct RawLock {
    /// 0: free; otherwise the owner word (`id | start_low << 32`).
    pub(crate) word: AtomicU64,
    pub(crate) ec: EventCount,
}

// SAFETY: repr(C), atomics only; all-zero is "free, nobody waiting".
unsafe impl SharedState for RawLock {}

/// How the lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Took {
    Fresh,
    OwnerDied,
}

/// When a handle may next read its lock owner's liveness in `try_acquire`: at most once
/// per [`POLL`], since each probe reads `/proc/ID/stat` (a path, an open, a read).
///
/// Process-local memory of one handle (a clone starts afresh), not shared state.
pub(crate) struct Probe {
    born: Instant,
    /// Nanoseconds after `born` before which no probe is due (0: due now).
    next: StdAtomicU64,
}

const POLL_NANOS: u64 = POLL.as_nanos() as u64;

impl Probe {
    pub(crate) fn new() -> Probe {
        Probe {
            born: Instant::now(),
            next: StdAtomicU64::new(0),
        }
    }

    /// True if a probe is due, and then no other for `POLL` (one thread wins the CAS).
    fn due(&self) -> bool {
        let now = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: a process-local rate limit; nothing is published through it.
        let next = self.next.load(StdOrdering::Relaxed);
        now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now.saturating_add(POLL_NANOS),
                    StdOrdering::Relaxed,
                    StdOrdering::Relaxed,
                )
                .is_ok()
    }
}

impl Clone for Probe {
    fn clone(&self) -> Self {
        Probe::new()
    }
}

impl RawLock {
    fn try_cas(&self, from: u64, me: u64) -> bool {
        // SYNC: Acquire pairs with the Release (SeqCst) swap/CAS in `release`: the critical
        // section of the previous holder happens before ours.
        self.word
            .compare_exchange(from, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock for `me` if it is free (`None`), else returns the owner word.
    fn take_or_owner(&self, me: u64) -> Result<Option<u64>, Corrupted> {
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w != 0 {
                check_owner(w)?;
                return Ok(Some(w));
            }
            if self.try_cas(0, me) {
                return Ok(None);
            }
        }
    }

    /// Takes the lock for `me` without waiting. A dead owner is taken over, but only if
    /// `probe` allows a liveness read now (at most once per [`POLL`] per handle).
    pub(crate) fn try_lock(&self, me: u64, probe: &Probe) -> Result<Took, LockError> {
        let Some(w) = self.take_or_owner(me)? else {
            return Ok(Took::Fresh);
        };
        if probe.due() && !owner_alive(w) && self.try_cas(w, me) {
            return Ok(Took::OwnerDied);
        }
        Err(LockError::WouldBlock)
    }

    /// Takes the lock for `me`, blocking until `deadline` ([`LockError::Timeout`]). A
    /// call that times out looks at the owner's liveness first if `probe` allows it.
    pub(crate) fn lock(
        &self,
        me: u64,
        deadline: Option<Instant>,
        probe: &Probe,
    ) -> Result<Took, LockError> {
        self.lock_until(me, deadline, Some(probe))?
            .ok_or(LockError::Timeout)
    }

    /// Takes the lock for `me`, blocking as long as it takes (internal waits that must get
    /// the lock back: a condition's relock, a barrier's state).
    pub(crate) fn lock_blocking(&self, me: u64) -> Result<Took, Corrupted> {
        self.lock_until(me, None, None)?
            .ok_or_else(|| corrupted("blocking acquire returned early"))
    }

    /// Takes the lock for `me`; `Ok(None)` once `deadline` has passed.
    ///
    /// A waiter that sees the same owner for [`POLL`] checks its liveness; a dead owner's
    /// word is replaced by `me` with one CAS from that exact word (so one waiter wins).
    /// A wait shorter than `POLL` never sees the owner that long, so a timed-out call
    /// checks too if the handle's `probe` allows it: a caller polling with short timeouts
    /// takes over a dead owner as `try_lock`'s callers do, within about a `POLL`.
    fn lock_until(
        &self,
        me: u64,
        deadline: Option<Instant>,
        probe: Option<&Probe>,
    ) -> Result<Option<Took>, Corrupted> {
        if self.try_cas(0, me) {
            return Ok(Some(Took::Fresh));
        }
        let mut backoff = Backoff::new();
        // The owner word we keep seeing, and since when.
        let mut seen: Option<(u64, Instant)> = None;
        loop {
            let Some(w) = self.take_or_owner(me)? else {
                return Ok(Some(Took::Fresh));
            };
            // Spinning and yielding only until the deadline: on a loaded host ten yields
            // can take many time slices (the ring's waits check it the same way).
            if backoff.snooze() && deadline.is_none_or(|d| Instant::now() < d) {
                continue;
            }
            let now = Instant::now();
            match seen {
                Some((s, since)) if s == w => {
                    if now.duration_since(since) >= POLL {
                        if !owner_alive(w) && self.try_cas(w, me) {
                            return Ok(Some(Took::OwnerDied));
                        }
                        seen = Some((w, now));
                    }
                }
                _ => seen = Some((w, now)),
            }
            if deadline.is_some_and(|d| now >= d) {
                if probe.is_some_and(Probe::due) && !owner_alive(w) && self.try_cas(w, me) {
                    return Ok(Some(Took::OwnerDied));
                }
                return Ok(None);
            }
            let token = self.ec.prepare();
            // SYNC: SeqCst pairs with the SeqCst swap in `release` through the event
            // count's Dekker handshake: either we see the release, or it sees us waiting.
            if self.word.load(Ordering::SeqCst) != w {
                self.ec.cancel(token);
                continue;
            }
            // At most POLL: the owner's liveness is due again by then.
            if self.ec.nap(token, deadline) == Wake::Woken {
                backoff.reset();
            }
        }
    }

    /// Frees the lock whoever holds it (Python's `Lock.release`).
    pub(crate) fn release_any(&self) -> Result<(), ReleaseError> {
        // SYNC: Release publishes the critical section to the next acquirer's Acquire CAS;
        // SeqCst orders it before the waiter check in `notify`.
        if self.word.swap(0, Ordering::SeqCst) == 0 {
            return Err(ReleaseError::NotHeld);
        }
        self.ec.notify(1);
        Ok(())
    }

    /// Frees the lock if `me` still holds it.
    pub(crate) fn release_if(&self, me: u64) -> bool {
        // SYNC: as in `release_any`.
        let ok = self
            .word
            .compare_exchange(me, 0, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        if ok {
            self.ec.notify(1);
        }
        ok
    }
}

/// A process-shared lock (Python's `multiprocessing.Lock`), robust against a dead holder.
///
/// Any thread of any process may [`release`](Lock::release) a held lock, as in Python; the
/// usual way is the [`LockGuard`], which releases on drop. A holder that dies is detected by
/// the next acquirer, who gets the lock with [`LockGuard::owner_died`] set.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::{Lock, LockError};
/// use std::time::Duration;
///
/// let lock = Lock::new()?;
/// let guard = lock.acquire()?;
/// assert!(matches!(lock.try_acquire(), Err(LockError::WouldBlock)));
/// assert!(matches!(lock.acquire_timeout(Duration::from_millis(5)), Err(LockError::Timeout)));
/// drop(guard);
/// assert!(lock.try_acquire().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Lock {
    raw: Mapped<RawLock>,
    probe: Probe,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish_non_exhaustive()
    }
}

/// Holds a [`Lock`]; releases it on drop (unless it was already released through
/// [`Lock::release`] and taken by another process meanwhile). A `Lock` belongs to a
/// process, not a thread, as Python's: after a raw `release`, another thread of this
/// process that takes it is freed by this guard's drop. Do not mix the two.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    me: u64,
    owner_died: bool,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner_died", &self.owner_died)
            .finish_non_exhaustive()
    }
}

impl Lock {
    /// Creates an unlocked lock in a nameless segment (reaches children by `fork` or
    /// [`handle`](Lock::handle)).
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// assert!(!lock.locked());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn new() -> Result<Lock, OpenError> {
        Self::build(None)
    }

    /// Creates a lock that unrelated programs open with [`open_named`](Lock::open_named);
    /// the name is `/{prefix}-{random}` and is removed when the creator's last clone drops.
    ///
    /// ```
    /// use ipc_core::sync::Lock;
    /// let lock = Lock::create_named("doc-lock")?;
    /// let other = Lock::open_named(lock.name().unwrap())?;
    /// let g = other.acquire()?;
    /// assert!(lock.locked());
    /// # drop(g);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(prefix: &str) -> Result<Lock, OpenError> {
        Self::build(Some(prefix))
    }

    fn build(prefix: Option<&str>) -> Result<Lock, OpenError> {
        let seg = new_segment(std::mem::size_of::<RawLock>(), kind::LOCK, prefix)?;
        seg.mark_initialized(); // all-zero is a free lock
        Self::attach(seg)
    }

    fn attach(seg: Segment) -> Result<Lock, OpenError> {
        Self::within(Arc::new(seg), 0)
    }

    /// A lock whose state lives at `offset` in a segment another object owns.
    pub(crate) fn within(seg: Arc<Segment>, offset: usize) -> Result<Lock, OpenError> {
        Ok(Lock {
            raw: Mapped::at(seg, offset)?,
            probe: Probe::new(),
        })
    }

    fn segment(&self) -> &Segment {
        self.raw.segment()
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    fn take(&self, deadline: Option<Instant>, block: bool) -> Result<LockGuard<'_>, LockError> {
        let me = my_owner_word();
        let took = if block {
            self.raw.lock(me, deadline, &self.probe)?
        } else {
            self.raw.try_lock(me, &self.probe)?
        };
        Ok(LockGuard {
            lock: self,
            me,
            owner_died: took == Took::OwnerDied,
        })
    }

    /// Blocks until the lock is held; if its holder had died, the guard's
    /// [`owner_died`](LockGuard::owner_died) is set. Error: [`LockError::Corrupted`].
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// let _g = lock.acquire()?;
    /// assert!(lock.locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self) -> Result<LockGuard<'_>, LockError> {
        self.take(None, true)
    }

    /// Blocks for at most `timeout`; [`LockError::Timeout`] if the lock stayed held.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ipc_core::sync::Lock::new()?;
    /// let _g = lock.acquire_timeout(Duration::from_millis(10))?;
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, LockError> {
        self.take(deadline_after(timeout), true)
    }

    /// Blocks until `deadline` at most.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let lock = ipc_core::sync::Lock::new()?;
    /// let _g = lock.acquire_deadline(Instant::now() + Duration::from_millis(10))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<LockGuard<'_>, LockError> {
        self.take(Some(deadline), true)
    }

    /// Takes the lock only if it is free now (Python's `acquire(block=False)`);
    /// [`LockError::WouldBlock`] if a live owner holds it. A dead owner is taken over; to
    /// keep a polling loop cheap, each handle checks the owner's liveness at most once per
    /// [`POLL`](super::POLL), so a death can go unnoticed by `try_acquire` for that long.
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// let g = lock.try_acquire()?;
    /// assert!(lock.try_acquire().is_err());
    /// # drop(g);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, LockError> {
        self.take(None, false)
    }

    /// Releases the lock, whoever holds it (Python's raw `release`); pair it with
    /// [`LockGuard::leak`]. [`ReleaseError::NotHeld`] if it is not held.
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// lock.acquire()?.leak(); // held with no guard, as after Python's acquire()
    /// lock.release()?;        // any process may release it
    /// assert!(lock.release().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.raw.release_any()
    }

    /// True while some process holds the lock.
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// assert!(!lock.locked());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.word.load(Ordering::Relaxed) != 0
    }
}

super::segment_api!(Lock, kind::LOCK, "Lock::new()");

impl LockGuard<'_> {
    /// True if the previous holder died holding the lock and this acquire took it over
    /// (a robust mutex's `EOWNERDEAD`): the data the lock protects may be half-updated,
    /// so check or repair it. Exactly one acquirer sees each death.
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// let g = lock.acquire()?;
    /// if g.owner_died() {
    ///     // repair the protected data here
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    pub(crate) fn set_owner_died(&mut self) {
        self.owner_died = true;
    }

    /// Keeps the lock held without a guard; release it later with [`Lock::release`].
    ///
    /// ```
    /// let lock = ipc_core::sync::Lock::new()?;
    /// lock.acquire()?.leak();
    /// assert!(lock.locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leak(self) {
        std::mem::forget(self);
    }

    /// The lock this guard holds.
    pub(crate) fn lock(&self) -> &Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.raw.release_if(self.me);
    }
}
