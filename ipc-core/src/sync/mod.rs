//! Process-shared synchronisation: Python's `multiprocessing` locks, semaphores, events,
//! conditions, barriers, shared values and named shared memory, on futexes in shared memory.
//!
//! ```
//! use ipc_core::sync::{Lock, Value};
//! // A bare fork helper keeps this example inside ipc-core; programs start children
//! // with mp-process (`Process::new`, spawn, forkserver).
//! use ipc_core::testing::{fork, reap};
//!
//! let counter = Value::new(0u64)?; // a u64 in shared memory, with its own Lock
//! let child = fork(|| {
//!     for _ in 0..1000 {
//!         let g = counter.lock().unwrap();
//!         g.set(g.get() + 1);
//!     }
//!     0
//! });
//! for _ in 0..1000 {
//!     let g = counter.lock()?;
//!     g.set(g.get() + 1);
//! }
//! assert_eq!(reap(child), Ok(0));
//! assert_eq!(counter.get(), 2000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reaching another process
//! Every object lives in its own [`Segment`]: a nameless `memfd` by default, inherited by
//! `fork`; `handle()` / `from_handle()` for a spawned child that inherited the fd;
//! `create_named()` / `open_named()` for unrelated programs. `Clone` shares the mapping.
//!
//! # A dead holder never deadlocks
//! A [`Lock`] or [`RLock`] word holds its owner's identity (pid or tid, plus the low 32
//! bits of its start time, so a recycled pid never looks alive). A waiter that has seen
//! the same owner for [`POLL`] checks whether that owner still runs; if not, it takes the
//! lock over with one compare-and-swap from the dead owner's exact word; its guard's
//! [`owner_died()`](LockGuard::owner_died) is true, as a robust mutex's `EOWNERDEAD`:
//! repair the data, then use the guard as usual. Exactly one waiter wins the take-over.
//!
//! What a dead process leaves behind elsewhere:
//! - [`Semaphore`] permits it acquired are lost, as with POSIX and Python semaphores
//!   (a semaphore has no owner); a [`BoundedSemaphore`] then simply never fills up again.
//! - A [`Condition`] waiter that dies while waiting may absorb one `notify` (the signal
//!   stays in the count and wakes a later waiter spuriously); `notify_all` always reaches
//!   every live waiter. The condition's lock is recovered as above.
//! - A [`Barrier`] party that dies breaks the barrier (see [`Barrier`] for the exact rule).
//!
//! # Never trusting shared memory
//! Every word read from a segment is checked: a value no correct peer writes gives a
//! [`Corrupted`](crate::Corrupted) error, never undefined behaviour, a panic or a hang.
//! Data in [`Value`], [`Array`] and [`SharedMemory`] is copied in and out with atomic
//! accesses, so even a racing or hostile writer cannot cause undefined behaviour here.
//!
//! The lock word protocol is a state table in `sync/README.md` in the source tree.

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod plain;
mod rlock;
mod semaphore;
mod shared_memory;
mod value;

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionLock};
pub use error::{AcquireError, BarrierError, LockError, ReleaseError, ViewError};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use plain::{Plain, SharedSlice};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore};
pub use shared_memory::SharedMemory;
pub use value::{Array, ArrayGuard, RawArray, RawValue, Value, ValueGuard};

use crate::error::OpenError;
pub(crate) use crate::liveness::{check_owner, my_owner_word, owner_alive};
use crate::liveness::{current_pid, owner_word};
use crate::segment::{Kind, Segment};

/// How often a waiter that keeps seeing the same lock owner checks whether it still runs
/// (the same period as the ring's).
pub use crate::ring::POLL;

/// Segment kinds, one per primitive, so that no object is ever opened as another.
pub(crate) mod kind {
    use crate::segment::Kind;
    pub(crate) const LOCK: Kind = Kind(0x5359_4E01);
    pub(crate) const RLOCK: Kind = Kind(0x5359_4E02);
    pub(crate) const SEMAPHORE: Kind = Kind(0x5359_4E03);
    pub(crate) const BOUNDED_SEMAPHORE: Kind = Kind(0x5359_4E04);
    pub(crate) const EVENT: Kind = Kind(0x5359_4E05);
    pub(crate) const CONDITION_LOCK: Kind = Kind(0x5359_4E06);
    pub(crate) const CONDITION_RLOCK: Kind = Kind(0x5359_4E07);
    pub(crate) const BARRIER: Kind = Kind(0x5359_4E08);
    pub(crate) const VALUE: Kind = Kind(0x5359_4E09);
    pub(crate) const RAW_VALUE: Kind = Kind(0x5359_4E0A);
    pub(crate) const ARRAY: Kind = Kind(0x5359_4E0B);
    pub(crate) const RAW_ARRAY: Kind = Kind(0x5359_4E0C);
    pub(crate) const SHARED_MEMORY: Kind = Kind(0x5359_4E0D);
}

/// Marks a struct that may live in shared memory and be viewed as `&Self` there.
///
/// # Safety
/// The type is `#[repr(C)]`, made only of atomics (or arrays and structs of them), so every
/// bit pattern is a valid value and all-zero bytes are a valid initial state; it holds
/// offsets, never pointers.
pub(crate) unsafe trait SharedState: Sync {}

/// A `&S` in a segment, kept alive by the segment's `Arc`.
pub(crate) struct Mapped<S> {
    seg: Arc<Segment>,
    ptr: NonNull<S>,
}

impl<S> Clone for Mapped<S> {
    fn clone(&self) -> Self {
        Mapped {
            seg: self.seg.clone(),
            ptr: self.ptr,
        }
    }
}

// SAFETY: `S: SharedState` is made of atomics (Sync); the segment keeps the mapping valid
// from any thread.
unsafe impl<S: SharedState> Send for Mapped<S> {}
// SAFETY: as above; `&S` only exposes atomics.
unsafe impl<S: SharedState> Sync for Mapped<S> {}

impl<S: SharedState> Mapped<S> {
    /// Views the `S` at `offset` bytes into the payload, after checking bounds and alignment.
    pub(crate) fn at(seg: Arc<Segment>, offset: usize) -> Result<Self, OpenError> {
        let need = offset
            .checked_add(std::mem::size_of::<S>())
            .ok_or(OpenError::TooLarge(offset))?;
        if need > seg.payload_len() {
            return Err(OpenError::TooSmall {
                size: seg.payload_len(),
                need,
            });
        }
        // The payload is 64-byte aligned; the offset must keep S aligned.
        if offset % std::mem::align_of::<S>() != 0 {
            return Err(OpenError::InvalidConfig("misaligned shared state"));
        }
        // SAFETY: `offset + size_of::<S>() <= payload_len`, checked above.
        let raw = unsafe { seg.payload_ptr().add(offset) };
        let ptr = NonNull::new(raw.cast::<S>()).ok_or(OpenError::InvalidConfig("null segment"))?;
        Ok(Mapped { seg, ptr })
    }

    /// The segment holding the state.
    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.seg
    }
}

impl<S: SharedState> std::ops::Deref for Mapped<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: `ptr` is in bounds and aligned (checked in `at`), the mapping lives as long
        // as `seg`, and `S: SharedState` is valid for any bytes another process may write.
        unsafe { self.ptr.as_ref() }
    }
}

/// Creates an unpublished segment: nameless, or named `/{prefix}-{random}`.
pub(crate) fn new_segment(
    payload: usize,
    kind: Kind,
    prefix: Option<&str>,
) -> Result<Segment, OpenError> {
    match prefix {
        None => Segment::create_unpublished(payload, kind),
        Some(p) => Segment::create_named_unpublished(p, payload, kind),
    }
}

thread_local! {
    /// `(pid, thread word)` of this thread; the pid detects a `fork` since it was computed.
    static ME_THREAD: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
}

/// The calling thread's owner word (tid + thread start time), cached per thread.
pub(crate) fn thread_word() -> u64 {
    let pid = current_pid();
    ME_THREAD.with(|c| {
        let (p, w) = c.get();
        if p == pid && w != 0 {
            return w;
        }
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let w = owner_word(tid);
        c.set((pid, w));
        w
    })
}

/// Generates the segment plumbing shared by every non-generic primitive.
macro_rules! segment_api {
    ($ty:ident, $kind:expr, $make:literal) => {
        impl $ty {
            /// The fd and size a spawned child needs for `from_handle` (the fd must be
            /// inherited, i.e. not close-on-exec in that child).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            #[doc = concat!("let a = ", $make, "?;")]
            #[doc = concat!("let b = ", stringify!($ty), "::from_handle(a.handle())?;")]
            /// assert_eq!(a.handle().size, b.handle().size);
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn handle(&self) -> $crate::segment::SegmentHandle {
                self.segment().handle()
            }

            /// Maps the object again from a handle (a spawned child's side of `handle`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// use ipc_core::segment::{Kind, Segment};
            ///
            #[doc = concat!("let a = ", $make, "?;")]
            /// // in the child:
            #[doc = concat!("let b = ", stringify!($ty), "::from_handle(a.handle())?;")]
            /// assert_eq!(b.handle().size, a.handle().size);
            /// let other = Segment::create(64, Kind(1))?; // not this kind of object
            #[doc = concat!("let wrong = ", stringify!($ty), "::from_handle(other.handle());")]
            /// assert!(wrong.is_err());
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn from_handle(
                handle: $crate::segment::SegmentHandle,
            ) -> Result<Self, $crate::OpenError> {
                Self::attach($crate::segment::Segment::from_handle(handle, $kind)?)
            }

            /// Opens an object another program created with `create_named`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Semaphore) => { Semaphore::create_named("doc-sync", 2) };
            /// #     (BoundedSemaphore) => { BoundedSemaphore::create_named("doc-sync", 2) };
            /// #     (Barrier) => { Barrier::create_named("doc-sync", 2) };
            /// #     ($t:ident) => { $t::create_named("doc-sync") };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: made by `", stringify!($ty), "::create_named`, maybe elsewhere")]
            #[doc = concat!("let b = ", stringify!($ty), "::open_named(a.name().unwrap())?;")]
            /// assert_eq!(b.handle().size, a.handle().size);
            #[doc = concat!("let missing = ", stringify!($ty), "::open_named(\"/doc-no-such-name\");")]
            /// assert!(missing.is_err());
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn open_named(name: &str) -> Result<Self, $crate::OpenError> {
                Self::attach($crate::segment::Segment::open_named(name, $kind)?)
            }

            /// The name, for an object made by `create_named` or `open_named`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Semaphore) => { Semaphore::create_named("doc-sync", 2) };
            /// #     (BoundedSemaphore) => { BoundedSemaphore::create_named("doc-sync", 2) };
            /// #     (Barrier) => { Barrier::create_named("doc-sync", 2) };
            /// #     ($t:ident) => { $t::create_named("doc-sync") };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: made by `", stringify!($ty), "::create_named`, maybe elsewhere")]
            /// assert!(a.name().is_some_and(|n| n.starts_with("/doc-sync-")));
            #[doc = concat!("assert_eq!(", $make, "?.name(), None); // nameless")]
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn name(&self) -> Option<&str> {
                self.segment().name()
            }
        }
    };
}
pub(crate) use segment_api;
