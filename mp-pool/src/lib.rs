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
//!   the workers' exit status every 10 ms.
//!
//! # Progress
//! [`MapResult::progress`] and [`Imap::progress`] give `(done, total)` for a progress bar.
//!
//! # Start methods
//! Workers start with [`mp_process::get_start_method`] unless
//! [`Builder::start_method`] says otherwise; spawn and forkserver need the hook
//! (`mp_process::init()` first in `main`, or `mp_process::hook!()` in tests).

mod error;
mod job;
mod pool;
mod result;
mod supervisor;
mod task;

pub use error::{NotReady, PoolError, TaskError};
pub use pool::{Builder, Pool};
pub use result::{AsyncResult, Imap, MapResult};
