//! Python's `multiprocessing` queues and pipes, typed with rkyv, in shared memory.
//!
//! ```
//! use mp_queue::Queue;
//! // A bare fork helper keeps this example inside mp-queue; programs start children
//! // with mp-process (`Process::new`, spawn, forkserver).
//! use ipc_core::testing::{fork, reap};
//!
//! let q: Queue<String> = Queue::new()?;
//! let child = fork(|| {
//!     q.put(format!("hello from {}", std::process::id())).unwrap();
//!     0
//! });
//! println!("{}", q.get()?); // "hello from <child pid>"
//! assert_eq!(reap(child), Ok(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Queues
//! [`Queue<T>`] is `multiprocessing.Queue`: `put`, `put_timeout`, `try_put` (Python's
//! `put(block=False)`), `get`, `get_timeout`, `try_get`, [`get_ref`](Queue::get_ref) (read
//! in place, no copy), `put_many` / `get_many`, `qsize` / `empty` / `full`, and
//! `close`. Every waiting call also comes as `_deadline`, taking an `Instant`, as
//! crossbeam's (`put_deadline`, `get_deadline`, ...). [`Queue::iter`] (or
//! `for item in &q`) takes items until every writer is gone, [`Queue::try_iter`] what is
//! ready now (an [`Iter`]; every queue kind has `iter`, all but `SimpleQueue` `try_iter`).
//! [`JoinableQueue<T>`] adds `task_done` / `join`; [`SimpleQueue<T>`] is the minimal
//! form; [`ByteQueue`] carries raw frames without serialization.
//!
//! Differences from Python, on purpose:
//! - `put` writes straight into shared memory. There is no feeder thread: an item is in
//!   the queue when `put` returns, `qsize` counts it at once, and a child never has to
//!   flush before it exits. So Python's "joining processes that use queues" deadlock
//!   cannot happen to a child whose puts have returned; a `put` into a full queue still
//!   waits for room, as with Python's `maxsize`.
//! - Messages are bounded: a queue holds at most its capacity in bytes (default 1 MiB,
//!   [`QueueBuilder::capacity`]) and `maxsize` items (default about one per 128 bytes of
//!   capacity, [`QueueBuilder::maxsize`]), and a serialized message larger than the
//!   capacity is refused at once with [`PutError::TooLarge`]; pipes likewise
//!   ([`pipe_with_capacity`]). Python's default queue has no bound: a `put` there never
//!   waits.
//! - When every handle that can put is closed or gone (its process exited or was killed),
//!   `get` drains what is left and then returns [`GetError::Closed`]; Python blocks forever.
//!   Every handle can put until [`close`](Queue::close)d, readers' handles too, so a
//!   process that only reads calls `close()` first (Python's meaning: this process puts
//!   nothing more), or readers elsewhere wait for it.
//! - [`JoinableQueue::join`] settles the tasks of a process that died holding them (taken
//!   and not yet `task_done`, or counted by a `put` that had not returned) instead of
//!   waiting for good, as Python does; the type's docs say what it does not cover.
//! - Errors hand the value back ([`PutError::Full`], [`PutError::Closed`], ...).
//!
//! # Pipes
//! [`pipe`] returns two [`Connection`]s, as `multiprocessing.Pipe(duplex)`: `send`, `recv`,
//! `recv_timeout`, `try_recv`, `poll`, `send_bytes`, `recv_bytes`, `recv_bytes_into`.
//!
//! # Reaching another process
//! - **fork**: a forked child inherits every queue and connection (`fork` above).
//! - **spawn**: pass [`Queue::handle`] (an fd and a size, `fd:size` as text) to a child
//!   that inherits the fd, and attach with [`Queue::from_handle`]. The fd is close-on-exec,
//!   so it must be passed on on purpose: mp-process's `Builder::pass_fd` does that for
//!   the child it starts. The parent's queue must be open while the child starts; from
//!   then on the child holds its own copy of the fd, and counts as a writer and a reader
//!   of it (for `Closed`) from its start, so the parent may drop or close its own handle
//!   right after `start`, as Python's examples close their copy. The child's roles narrow
//!   to its handle's once `from_handle` has run; a child that never attaches keeps
//!   readers from seeing `Closed` until it exits. (A child started some other way counts
//!   only once `from_handle` has run: keep the parent's handle until then.)
//! - **by name**: [`QueueBuilder::create_named`] and [`Queue::open`] let unrelated
//!   programs meet; [`Connection::create_named`] / [`Connection::open`] for pipes.
//!
//! # Messages
//! Any type implementing rkyv's `Archive + Serialize + Deserialize` is a [`Message`]:
//! derive them. `put` serializes straight into the ring (a value of at most
//! [`ipc_core::ring::INLINE_MAX`] bytes is built on the stack and copied in, since it
//! lives in the descriptor line the consumer polls); `get` validates the record with
//! rkyv's checked access (offsets and lengths bounds-checked, so a corrupted record gives
//! [`GetError::Invalid`], never undefined behaviour) and deserializes it.
//!
//! Trust model: validation protects against bytes that are wrong when read (a crashed,
//! buggy or confused writer). A process that keeps scribbling over a record while a reader
//! holds its [`Ref`], or while `get` validates and decodes it, is outside it: shared
//! memory cannot stop a writer racing a reader. Opening checks the kind of queue (a
//! `Queue`, a `JoinableQueue`, a pipe...) and the size and alignment of `T`'s archive,
//! so most wrong item types are a clear [`Error`] at `open` / `from_handle`. Types of one
//! shape pass for each other (`u32` and `i32`): every side must use the same type, or
//! its records fail validation, or decode as whatever the other type makes of the bytes.
//! A [`ByteQueue`] is untyped: it reads any queue, and any `Queue<T>` may read it.
//!
//! Deriving: with `rkyv = "0.8"` among your own dependencies,
//! `#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]` is all it takes.
//! Without it, derive through this crate's re-export:
//!
//! ```
//! use mp_queue::rkyv::{Archive, Deserialize, Serialize};
//!
//! #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
//! #[rkyv(crate = mp_queue::rkyv)]
//! struct Order {
//!     id: u64,
//!     items: Vec<String>,
//! }
//!
//! let q: mp_queue::Queue<Order> = mp_queue::Queue::new()?;
//! q.put(Order { id: 7, items: vec!["tea".into()] })?;
//! assert_eq!(q.get()?.items, ["tea"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Speed and memory
//! - Plain values are put without a serializer, as their own bytes: fixed-size integers,
//!   floats, `bool`, `char`, arrays of them, and non-generic derived `#[repr(C)]` structs
//!   of them with no padding, which rkyv marks as copied byte for byte; `usize` and
//!   `isize` too (64 bits, see [`Message`]). Not enums, `Option`s or tuples. `get` still
//!   validates them. To check a type:
//!   `assert!(<T as rkyv::Archive>::COPY_OPTIMIZATION.is_enabled())`. In one thread a
//!   `u64` put takes about two thirds of the time a serialized one did.
//! - Small messages are cheapest: up to [`ipc_core::ring::INLINE_MAX`] (32) serialized
//!   bytes, a record travels inside its 64-byte descriptor, one cache line between the
//!   cores.
//! - [`get_ref`](Queue::get_ref) reads in place: for large messages it saves the copy and
//!   the allocation that `get` makes.
//! - [`ByteQueue::reserve`] lends out room for a message to be written in place: a put
//!   with no copy at all, for a producer that makes its message rather than holds it.
//! - A queue takes its capacity plus 64 bytes per item place (`maxsize + 4` rounded up to
//!   a power of two) of shared memory. Small messages never touch the capacity's pages, so
//!   a `Queue<u64>` is resident at 64 to 128 bytes per item: 64 with the default maxsize,
//!   128 with a power of two, whose 4 spare places double the rounding.
//! - Measured figures, beside crossbeam, a Unix pipe, `ipc-channel` and Python, are in
//!   the workspace's BENCHMARKS.md, with the commands that made them.
//!
//! # Where things live
//! One file per type: `queue.rs` (`Queue`, its builder, `Ref`, and what the kinds share:
//! tags and item shapes, `get_many`'s loop), `byte_queue.rs`, `joinable.rs` (task
//! counts, and settling a dead process's), `simple.rs`, `pipe.rs` (`Connection`: one ring
//! per direction), `iter.rs` (`Iter` and the sealed trait it takes from), `error.rs` (the error types).
//! Beneath them, `endpoint.rs` holds a handle's roles on its ring (a writer's and a
//! reader's presence) and `message.rs` puts and reads rkyv records in ring slots.

mod byte_queue;
mod endpoint;
mod error;
mod iter;
mod joinable;
mod message;
mod pipe;
mod queue;
mod simple;

pub use byte_queue::ByteQueue;
pub use error::{Error, GetError, PutError, RecvIntoError, TaskDoneError};
pub use ipc_core::ring::{ReadGuard, WriteSlot};
pub use ipc_core::segment::SegmentHandle;
pub use iter::Iter;
pub use joinable::JoinableQueue;
pub use message::{access, Encode, Message, Scratch, SlotWriter};
pub use pipe::{pipe, pipe_with_capacity, Connection, ConnectionHandle, PIPE_CAPACITY};
pub use queue::{Queue, QueueBuilder, Ref, DEFAULT_CAPACITY};
pub use rkyv;
pub use simple::SimpleQueue;
