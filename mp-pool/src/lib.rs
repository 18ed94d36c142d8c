//! Python's `multiprocessing.Pool`: `apply`, `apply_async`, `map`, `map_async`, `imap`,
//! `imap_unordered`, `starmap`, `starmap_async`, `close`, `terminate`, `join`, over
//! shared-memory rings, with workers that may die without hanging the pool.
//!
//! ```
//! # mp_process::hook!();
//! use mp_pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(2)?;
//! let r = pool.apply_async(square, 7)?;
//! assert_eq!(r.get(), Ok(49));
//! let all = pool.map(square, 1..=4, None)?;
//! assert_eq!(all, [Ok(1), Ok(4), Ok(9), Ok(16)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Tasks
//! A task is a plain function `fn(A) -> R` (a non-capturing closure coerces to one) with
//! `A` and `R` rkyv [`Message`](mp_queue::Message)s. It works with every start method:
//! the function travels as its offset inside this binary, checked by a keyed hash so a
//! corrupted record is refused rather than called. Arguments are serialized straight
//! into the worker's ring and results straight into the result ring.
//!
//! # Failures stay small
//! - A task that panics gives that task [`TaskError::Panicked`] with the message; its
//!   worker goes on serving.
//! - A worker that dies (SIGKILL, abort, out of memory) fails only the chunk it was
//!   running, with [`TaskError::WorkerDied`] naming its pid and exit code; chunks it had
//!   not started go to other workers; a replacement starts. Python's Pool hangs forever
//!   here, and `concurrent.futures` breaks the whole executor.
//! - Detection needs no thread per worker: one supervisor thread reads results and polls
//!   the workers' exit status every 10 ms. A worker whose status was lost (SIGCHLD set
//!   to ignored, or a `waitpid(-1)` elsewhere in the program reaped it) counts as dead
//!   too, with exit code 0.
//! - A replacement that cannot start (out of processes or file descriptors) is tried
//!   again every second; while the pool has no worker at all, the work waiting for one
//!   fails with [`TaskError::Failed`] instead of waiting for good.
//! - A result callback that panics is reported on stderr; the pool goes on. One that
//!   waits, without a timeout, for a result of its own pool panics saying why (it runs
//!   on the thread that delivers results, so it would wait for good).
//! - An argument's `Serialize` or a result's `Deserialize` that panics fails that
//!   chunk's items with [`TaskError::Failed`]; the pool goes on.
//! - A result ring that stays corrupted (a second of errors), or a supervisor thread
//!   that panics, ends the pool: every unfinished item fails with [`TaskError::Failed`],
//!   rather than waiting for results that can no longer come.
//! - A result record corrupted so that it names no chunk fails the chunk whose answer it
//!   was, with [`TaskError::Failed`] (the busy workers are asked for a sign of life, and
//!   a worker answers in order), rather than leaving it waiting.
//! - An `initializer` that panics or exits makes every worker die at its start. Python
//!   starts new ones for good, and the work waits for good; after two such deaths per
//!   process in a row, this pool fails the work waiting for a worker with
//!   [`TaskError::Failed`] (saying so), and tries new workers every second.
//!
//! Panics are caught only with `panic = "unwind"` (the default): built with `panic =
//! "abort"`, a panicking task kills its worker, failing its chunk with `WorkerDied`.
//!
//! # Workers and threads
//! Workers are daemons: they get SIGKILL when the parent *thread* that started them
//! exits (Linux's parent-death signal follows the thread). Build a pool in a thread that
//! outlives it, such as `main`'s, not in a short-lived one. Replacements are started
//! from the supervisor thread, which lives as long as the pool. Workers are forked by
//! default from a process that runs other threads, so mp-process's fork caveats apply
//! (a lock another thread held at the fork stays held in the worker); the spawn and
//! forkserver start methods avoid them.
//!
//! # Progress
//! [`MapResult::progress`] and [`Imap::progress`] give `(done, total)` for a progress bar.
//!
//! # Start methods
//! Workers start with [`mp_process::get_start_method`] unless
//! [`Builder::start_method`] says otherwise; spawn and forkserver need the hook
//! (`mp_process::init()` first in `main`, or `mp_process::hook!()` in tests).
//!
//! # Where things live
//! `pool.rs` is the public face (`Pool`, `Builder`, Python's methods); `job.rs` a
//! submitted call as chunks; `supervisor.rs` the parent's side: the shared state, the
//! thread that reads results, refills workers and replaces the dead, and starting
//! workers; `task.rs` the record format between pool and workers and the worker's loop;
//! `result.rs` where results land (`AsyncResult`, `MapResult`, `Imap`); `error.rs`.

mod error;
mod job;
mod pool;
mod result;
mod supervisor;
mod task;

pub use error::{NotReady, PoolError, TaskError};
pub use pool::{Builder, Pool};
pub use result::{AsyncResult, Imap, MapResult};
