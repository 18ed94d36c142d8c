//! The shared-memory core under `mp-queue`, `mp-process` and `mp-pool`.
//!
//! ```
//! use ipc_core::ring::Ring;
//!
//! // A ring in a nameless shared segment: forked children inherit it.
//! let ring = Ring::builder().capacity(1 << 16).create()?;
//! let tx = ring.producer()?;
//! let rx = ring.consumer()?;
//! tx.push(b"hello from shared memory")?;
//! let msg = rx.pop()?; // a zero-copy guard over the payload in the segment
//! assert_eq!(&*msg, b"hello from shared memory");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Segments
//! [`segment::Segment`] is shared memory with a checked header: nameless (`memfd_create`,
//! cannot leak) by default, named (`shm_open`) for unrelated programs. A child reaches it by
//! `fork`, by an inherited fd ([`segment::SegmentHandle`]), or by name.
//!
//! # Waiting
//! Blocking is a futex on a word in the segment, shared between processes, with a waiter
//! count so that waking costs nothing when nobody sleeps, and a short bounded spin first.
//! Where Linux's `membarrier` works, the ring's publishing stores are plain release
//! stores and a waiter pays a `membarrier` system call on its way to sleep instead
//! (`src/fence.rs`).
//!
//! # The ring
//! [`ring::Ring`] is a multi-producer multi-consumer queue of variable-length byte records:
//! claim, write in place, publish, with no lock held while bytes are copied; a zero-copy
//! [`ring::ReadGuard`] frees the space when dropped. It is bounded in records (`maxsize`)
//! and in bytes (`capacity`).
//!
//! # Crash safety
//! Every process using a ring registers (pid + start time). If a process dies at any
//! instruction, at most the record it was writing or reading is lost; its claims are
//! settled by whoever waits on them, and nobody waits forever. When every producer handle
//! is gone (dropped, or its process dead), consumers drain the ring and then get
//! [`PopError::Closed`].
//!
//! Liveness is read from `/proc` in the reader's own PID namespace. Every process sharing
//! a segment must therefore see the others' pids as they are: not supported are named
//! segments shared across PID namespaces (containers sharing `/dev/shm` but not their
//! process tree), where a live owner would look dead, or like another process, and its
//! lock or record be taken over.
//!
//! # Sync primitives
//! [`sync`] has Python's process-shared `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Event`, `Condition`, `Barrier`, `Value`, `Array` and `SharedMemory`, on futexes in
//! shared memory. A process killed while holding a lock never deadlocks the others: the
//! next acquirer takes the lock over and is told the owner died.
//!
//! # Never trusting shared memory
//! Every length, offset and state read from a segment is checked before use: corruption
//! gives a [`Corrupted`] error, never undefined behaviour, a panic or a hang.
//!
//! The trust model, stated plainly: checks protect against bytes that are wrong when they
//! are read (a crashed, buggy or confused peer, random corruption). A [`ring::ReadGuard`]
//! or [`ring::WriteSlot`] hands out a slice into shared memory; a peer that keeps writing
//! into a record another process holds is outside that model, because shared memory
//! cannot stop a writer racing a reader. (`sync::Value` and friends copy with atomic
//! accesses instead, so even that race is harmless there.)

mod error;
mod fence;
pub mod futex;
pub mod liveness;
mod primitive;
pub mod ring;
pub mod segment;
#[cfg(not(loom))]
pub mod sync;
pub mod testing;
mod waiter;

pub use error::{Corrupted, OpenError, PopError, PushError};
pub use liveness::ProcessId;
pub use waiter::deadline_after;
