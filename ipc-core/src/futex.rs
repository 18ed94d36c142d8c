//! Shared (cross-process) futex wait and wake on an `AtomicU32` in shared memory.
//!
//! The building block under every blocking call in this workspace; most users want the
//! ring or the queues instead.
//!
//! ```
//! use ipc_core::futex::{wait, wake, Wake};
//! use std::sync::atomic::AtomicU32;
//! use std::time::{Duration, Instant};
//!
//! let word = AtomicU32::new(0);
//! // The word is not 1, so this returns at once; otherwise it would sleep until the deadline.
//! assert_eq!(wait(&word, 1, Some(Instant::now() + Duration::from_millis(5))), Wake::Woken);
//! assert_eq!(wait(&word, 0, Some(Instant::now() + Duration::from_millis(5))), Wake::TimedOut);
//! assert_eq!(wake(&word, 1), 0); // nobody was sleeping
//! ```
//!
//! The calls deliberately omit `FUTEX_PRIVATE_FLAG`: a private futex is keyed by the
//! process's address space and never wakes a waiter in another process.

#[cfg(not(loom))]
use std::io;
use std::time::Instant;

#[cfg(loom)]
use crate::primitive::AtomicU32;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU32;

/// Why [`wait`] returned. Every outcome means "re-check your condition".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Woken by `wake`, or the word no longer held `expected`, or a signal arrived.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `word == expected`, until woken or `deadline` passes.
///
/// Spurious returns are allowed; callers loop and re-check. The remaining time is
/// recomputed from `deadline` on every call, so retries never stretch a wait.
///
/// # Examples
///
/// ```
/// use ipc_core::futex::{wait, Wake};
/// use std::sync::atomic::AtomicU32;
/// use std::time::{Duration, Instant};
///
/// let word = AtomicU32::new(0);
/// assert_eq!(wait(&word, 1, None), Wake::Woken); // the word is not 1: no sleep at all
/// let start = Instant::now();
/// assert_eq!(wait(&word, 0, Some(start + Duration::from_millis(10))), Wake::TimedOut);
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
#[cfg(not(loom))]
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wake {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let ts_ptr = match deadline {
        None => std::ptr::null(),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::TimedOut;
            }
            ts.tv_sec = left.as_secs().min(i64::MAX as u64) as libc::time_t;
            ts.tv_nsec = left.subsec_nanos() as libc::c_long;
            &ts as *const libc::timespec
        }
    };
    // SAFETY: `word` is a valid, aligned AtomicU32 for the duration of the call; the kernel
    // only reads it. `ts_ptr` is null or points at `ts`, which outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Wake::Woken;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) => Wake::TimedOut,
        // EAGAIN: the word changed before we slept. EINTR: a signal. Both: re-check.
        Some(libc::EAGAIN | libc::EINTR) => Wake::Woken,
        // Anything else (ENOSYS or EPERM under a seccomp filter, say) would fail again at
        // once, and a caller's wait loop would spin on it: sleep a little instead, then
        // let it re-check.
        _ => {
            let nap = std::time::Duration::from_millis(1);
            std::thread::sleep(deadline.map_or(nap, |d| {
                nap.min(d.saturating_duration_since(Instant::now()))
            }));
            Wake::Woken
        }
    }
}

/// Wakes up to `n` waiters sleeping on `word`. Returns how many were woken.
///
/// # Examples
///
/// ```
/// use ipc_core::futex::{wait, wake};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let word = AtomicU32::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         while word.load(Ordering::Acquire) == 0 {
///             wait(&word, 0, None); // re-check after every return
///         }
///     });
///     word.store(1, Ordering::Release); // change the word first, then wake
///     wake(&word, 1); // 1 if the thread was asleep, 0 if it had not slept yet
/// });
/// assert_eq!(wake(&word, u32::MAX), 0); // nobody sleeps on it now
/// ```
#[cfg(not(loom))]
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a valid, aligned AtomicU32; FUTEX_WAKE does not access memory
    // beyond using the address as a key.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    rc.max(0) as usize
}

/// Under loom there is no kernel: waiting is a yield, waking is a no-op; waiters re-check.
#[cfg(loom)]
pub(crate) fn wait(_word: &AtomicU32, _expected: u32, _deadline: Option<Instant>) -> Wake {
    loom::thread::yield_now();
    Wake::Woken
}

#[cfg(loom)]
pub(crate) fn wake(_word: &AtomicU32, _n: u32) -> usize {
    0
}
