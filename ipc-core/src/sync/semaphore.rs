//! `Semaphore` and `BoundedSemaphore`: a counter of permits in shared memory.
//!
//! A semaphore has no owner, so nothing is recovered when a process dies: permits it had
//! acquired stay taken (as with POSIX and Python semaphores).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{AcquireError, ReleaseError};
use super::{kind, new_segment, Mapped, SharedState};
use crate::error::{corrupted, OpenError};
use crate::futex::Wake;
use crate::primitive::{AtomicU32, Ordering};
use crate::segment::Segment;
use crate::waiter::{deadline_after, EventCount};

/// Python's `SEM_VALUE_MAX` on Linux.
const VALUE_MAX: u32 = i32::MAX as u32;

#[repr(C)]
pub(crate) struct RawSemaphore {
    value: AtomicU32,
    /// Largest value a release may reach (the initial value of a bounded semaphore).
    max: AtomicU32,
    ec: EventCount,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for RawSemaphore {}

impl RawSemaphore {
    fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed).min(VALUE_MAX)
    }

    fn try_take(&self) -> Result<bool, AcquireError> {
        let max = self.max();
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v > max {
                return Err(corrupted("semaphore value above its maximum").into());
            }
            if v == 0 {
                return Ok(false);
            }
            // SYNC: Acquire pairs with the SeqCst (Release) fetch_add in `release`.
            match self
                .value
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Ok(true),
                Err(now) => v = now,
            }
        }
    }

    fn acquire(&self, deadline: Option<Instant>, block: bool) -> Result<(), AcquireError> {
        loop {
            if self.try_take()? {
                return Ok(());
            }
            if !block {
                return Err(AcquireError::WouldBlock);
            }
            let token = self.ec.prepare();
            // SYNC: SeqCst pairs with the release's SeqCst add (event count handshake).
            if self.value.load(Ordering::SeqCst) != 0 {
                self.ec.cancel(token);
                continue;
            }
            if self.ec.wait(token, deadline) == Wake::TimedOut && !self.try_take()? {
                return Err(AcquireError::Timeout);
            }
        }
    }

    fn release(&self) -> Result<(), ReleaseError> {
        let max = self.max();
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v >= max {
                return Err(if v > max {
                    corrupted("semaphore value above its maximum").into()
                } else {
                    ReleaseError::TooManyReleases
                });
            }
            // SYNC: Release (SeqCst) publishes the releaser's writes to the next acquirer.
            match self
                .value
                .compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        self.ec.notify(1);
        Ok(())
    }
}

macro_rules! semaphore {
    ($(#[$doc:meta])* $ty:ident, $kind:expr, $bounded:literal, $make:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $ty {
            raw: Mapped<RawSemaphore>,
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("value", &self.get_value())
                    .finish_non_exhaustive()
            }
        }

        impl $ty {
            /// Creates it with `value` permits in a nameless segment
            /// (`value` is at most `i32::MAX`).
            ///
            /// ```
            #[doc = concat!("let s = ", $make, "?;")]
            /// assert_eq!(s.get_value(), 2);
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn new(value: u32) -> Result<$ty, OpenError> {
                Self::build(value, None)
            }

            /// Creates a named one (`/{prefix}-{random}`) for unrelated programs.
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            #[doc = concat!("let s = ", stringify!($ty), "::create_named(\"doc-sem\", 1)?;")]
            #[doc = concat!("let t = ", stringify!($ty), "::open_named(s.name().unwrap())?;")]
            /// t.acquire()?;
            /// assert_eq!(s.get_value(), 0);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn create_named(prefix: &str, value: u32) -> Result<$ty, OpenError> {
                Self::build(value, Some(prefix))
            }

            fn build(value: u32, prefix: Option<&str>) -> Result<$ty, OpenError> {
                if value > VALUE_MAX {
                    return Err(OpenError::InvalidConfig("semaphore value above i32::MAX"));
                }
                let seg = new_segment(std::mem::size_of::<RawSemaphore>(), $kind, prefix)?;
                let s = Self::attach(seg)?;
                s.raw.value.store(value, Ordering::Relaxed);
                let max = if $bounded { value } else { VALUE_MAX };
                s.raw.max.store(max, Ordering::Relaxed);
                s.segment().mark_initialized();
                Ok(s)
            }

            fn attach(seg: Segment) -> Result<$ty, OpenError> {
                Ok($ty {
                    raw: Mapped::at(Arc::new(seg), 0)?,
                })
            }

            fn segment(&self) -> &Segment {
                self.raw.segment()
            }

            /// Takes a permit, blocking while there is none.
            ///
            /// ```
            #[doc = concat!("let s = ", $make, "?;")]
            /// s.acquire()?;
            /// assert_eq!(s.get_value(), 1);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn acquire(&self) -> Result<(), AcquireError> {
                self.raw.acquire(None, true)
            }

            /// Takes a permit, waiting at most `timeout`; [`AcquireError::Timeout`] if none
            /// came.
            ///
            /// ```
            /// use std::time::Duration;
            /// use ipc_core::sync::AcquireError;
            #[doc = concat!("let s = ", $make, "?;")]
            /// s.acquire()?;
            /// s.acquire()?;
            /// let e = s.acquire_timeout(Duration::from_millis(5));
            /// assert_eq!(e, Err(AcquireError::Timeout));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<(), AcquireError> {
                self.raw.acquire(deadline_after(timeout), true)
            }

            /// Takes a permit, waiting until `deadline` at most.
            ///
            /// ```
            /// use std::time::{Duration, Instant};
            #[doc = concat!("let s = ", $make, "?;")]
            /// s.acquire_deadline(Instant::now() + Duration::from_millis(5))?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn acquire_deadline(&self, deadline: Instant) -> Result<(), AcquireError> {
                self.raw.acquire(Some(deadline), true)
            }

            /// Takes a permit only if one is free now; [`AcquireError::WouldBlock`] if not.
            ///
            /// ```
            #[doc = concat!("let s = ", $make, "?;")]
            /// s.try_acquire()?;
            /// s.try_acquire()?;
            /// assert!(s.try_acquire().is_err());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn try_acquire(&self) -> Result<(), AcquireError> {
                self.raw.acquire(None, false)
            }

            /// Returns a permit (any process may).
            ///
            /// ```
            #[doc = concat!("let s = ", $make, "?;")]
            /// s.acquire()?;
            /// s.release()?;
            /// assert_eq!(s.get_value(), 2);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn release(&self) -> Result<(), ReleaseError> {
                self.raw.release()
            }

            /// Permits free right now (Python's `get_value`).
            ///
            /// ```
            #[doc = concat!("assert_eq!(", $make, "?.get_value(), 2);")]
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn get_value(&self) -> u32 {
                self.raw.value.load(Ordering::Relaxed)
            }
        }

        super::segment_api!($ty, $kind, $make);
    };
}

semaphore!(
    /// A process-shared counting semaphore (Python's `multiprocessing.Semaphore`).
    ///
    /// `release` never fails below `i32::MAX` permits. Permits taken by a process that
    /// dies are not returned (a semaphore has no owner).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Semaphore;
    /// let s = Semaphore::new(0)?;
    /// s.release()?;
    /// s.release()?; // a plain semaphore may grow past its initial value
    /// assert_eq!(s.get_value(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Semaphore,
    kind::SEMAPHORE,
    false,
    "ipc_core::sync::Semaphore::new(2)"
);

semaphore!(
    /// A semaphore that refuses to grow past its initial value (Python's
    /// `multiprocessing.BoundedSemaphore`): [`ReleaseError::TooManyReleases`].
    ///
    /// Permits taken by a process that dies are not returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{BoundedSemaphore, ReleaseError};
    /// let s = BoundedSemaphore::new(1)?;
    /// assert_eq!(s.release(), Err(ReleaseError::TooManyReleases));
    /// s.acquire()?;
    /// s.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    BoundedSemaphore,
    kind::BOUNDED_SEMAPHORE,
    true,
    "ipc_core::sync::BoundedSemaphore::new(2)"
);
