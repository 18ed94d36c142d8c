//! Errors of the sync primitives: one per kind of operation.

use std::fmt;

use crate::error::Corrupted;

/// Why acquiring a [`Lock`](super::Lock) or [`RLock`](super::RLock) failed.
///
/// A previous holder that died is not a failure: the lock is taken over and the guard's
/// `owner_died()` says so (see [`LockGuard::owner_died`](super::LockGuard::owner_died)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// The lock is held by a live owner (`try_acquire`).
    WouldBlock,
    /// The lock stayed held until the deadline.
    Timeout,
    /// The lock word is corrupted.
    Corrupted(Corrupted),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::WouldBlock => write!(f, "the lock is held by another owner"),
            LockError::Timeout => write!(f, "the lock stayed held until the timeout"),
            LockError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for LockError {}

impl From<Corrupted> for LockError {
    fn from(c: Corrupted) -> Self {
        LockError::Corrupted(c)
    }
}

/// Why a `release` was refused (Python raises `ValueError` or `RuntimeError` for these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseError {
    /// The lock is not held.
    NotHeld,
    /// An [`RLock`](super::RLock) may only be released by the thread that holds it.
    NotOwner,
    /// A [`BoundedSemaphore`](super::BoundedSemaphore) would exceed its initial value, or a
    /// semaphore its maximum (`i32::MAX`).
    TooManyReleases,
    /// The shared state is corrupted.
    Corrupted(Corrupted),
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::NotHeld => write!(f, "release of a lock that is not held"),
            ReleaseError::NotOwner => {
                write!(f, "an RLock can only be released by the thread holding it")
            }
            ReleaseError::TooManyReleases => write!(f, "semaphore or lock released too many times"),
            ReleaseError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for ReleaseError {}

impl From<Corrupted> for ReleaseError {
    fn from(c: Corrupted) -> Self {
        ReleaseError::Corrupted(c)
    }
}

/// Why a semaphore acquire, or a condition wait, did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// Nothing available right now (`try_acquire`).
    WouldBlock,
    /// Nothing became available before the deadline.
    Timeout,
    /// The guard passed to a condition wait does not belong to that condition's lock.
    NotOwner,
    /// The shared state is corrupted.
    Corrupted(Corrupted),
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::WouldBlock => write!(f, "nothing available right now"),
            AcquireError::Timeout => write!(f, "nothing became available before the timeout"),
            AcquireError::NotOwner => {
                write!(f, "the guard does not belong to this condition's lock")
            }
            AcquireError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for AcquireError {}

impl From<Corrupted> for AcquireError {
    fn from(c: Corrupted) -> Self {
        AcquireError::Corrupted(c)
    }
}

/// Why a [`Barrier`](super::Barrier) wait did not pass (Python's `BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is broken: aborted, reset while waiting, timed out, or a registered
    /// party died. Call `reset` to use it again.
    Broken,
    /// The shared state is corrupted.
    Corrupted(Corrupted),
    /// Called from the barrier's own action, which runs while the barrier is locked:
    /// `wait`, `abort` and `reset` there would wait for good (Python hangs).
    InAction,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => write!(
                f,
                "the barrier is broken (aborted, reset, timed out, or a party died); \
                 reset it to use it again"
            ),
            BarrierError::InAction => write!(
                f,
                "a barrier's action cannot wait on, abort or reset its own barrier \
                 (it runs while the barrier is locked)"
            ),
            BarrierError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for BarrierError {}

impl From<Corrupted> for BarrierError {
    fn from(c: Corrupted) -> Self {
        BarrierError::Corrupted(c)
    }
}

/// A typed view or copy into shared memory was refused: nothing was read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewError {
    /// The range does not fit in the block.
    OutOfBounds {
        /// Byte offset asked for.
        offset: usize,
        /// Bytes asked for.
        len: usize,
        /// Bytes in the block.
        size: usize,
    },
    /// The offset is not a multiple of the type's alignment.
    Misaligned {
        /// Byte offset asked for.
        offset: usize,
        /// Alignment the type needs.
        align: usize,
    },
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::OutOfBounds { offset, len, size } => write!(
                f,
                "{len} bytes at offset {offset} do not fit in the {size}-byte block"
            ),
            ViewError::Misaligned { offset, align } => write!(
                f,
                "offset {offset} is not a multiple of the type's alignment {align}"
            ),
        }
    }
}

impl std::error::Error for ViewError {}
