//! Errors of a pool: submitting work, and the outcome of one task.

use std::fmt;

/// Why one task has no result. Every other task of the same call is unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked in its worker; the worker goes on serving.
    Panicked(String),
    /// The worker running the task died (killed, aborted, out of memory) before finishing
    /// it. A replacement worker was started.
    WorkerDied {
        /// The dead worker's pid.
        pid: i32,
        /// How it ended, as Python's exitcode: `-N` for signal `N`, else its exit status;
        /// 0 when its status was lost (SIGCHLD ignored, or reaped by another `waitpid`).
        exitcode: i32,
    },
    /// `get_timeout`: the result was not ready in time (it may still come).
    Timeout,
    /// The pool was terminated (or dropped) before the task finished.
    Terminated,
    /// The serialized arguments or result do not fit the pool's rings.
    TooLarge {
        /// Bytes needed.
        len: usize,
        /// Bytes available.
        max: usize,
    },
    /// The task could not be sent or its result read (corrupted record, ...).
    Failed(String),
    /// `get` on a result already taken by an earlier `get_timeout`.
    AlreadyTaken,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(m) => write!(f, "the task panicked: {m}"),
            TaskError::WorkerDied { pid, exitcode } if *exitcode < 0 => write!(
                f,
                "worker {pid} was killed by signal {} while running the task",
                -exitcode
            ),
            TaskError::WorkerDied { pid, exitcode } => write!(
                f,
                "worker {pid} exited with status {exitcode} while running the task"
            ),
            TaskError::Timeout => f.write_str("the result was not ready before the timeout"),
            TaskError::Terminated => {
                f.write_str("the pool was terminated before the task finished")
            }
            TaskError::TooLarge { len, max } => write!(
                f,
                "the task's data ({len} bytes) exceeds the pool's ring capacity ({max} bytes); \
                 build the pool with a larger ring_capacity or use a smaller chunksize"
            ),
            TaskError::Failed(m) => write!(f, "the task failed: {m}"),
            TaskError::AlreadyTaken => f.write_str("the result was already taken"),
        }
    }
}

impl std::error::Error for TaskError {}

/// The pool refused work or could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// `close` or `terminate` was called: no more work is accepted (Python's
    /// `ValueError: Pool not running`).
    NotRunning,
    /// `join` before `close` (Python raises `ValueError` too).
    StillRunning,
    /// A worker process or the pool's shared memory could not be set up.
    Start(String),
    /// A call of more chunks than a job can count (2^32 - 1): a larger `chunksize`
    /// makes fewer.
    TooManyChunks(u64),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::NotRunning => {
                f.write_str("the pool is closed or terminated: it accepts no more work")
            }
            PoolError::StillRunning => f.write_str("join needs close (or terminate) first"),
            PoolError::Start(m) => write!(f, "cannot start the pool: {m}"),
            PoolError::TooManyChunks(n) => write!(
                f,
                "{n} chunks in one call; at most {} (use a larger chunksize)",
                u32::MAX - 1
            ),
        }
    }
}

impl std::error::Error for PoolError {}

/// [`AsyncResult::successful`](crate::AsyncResult::successful) before the result is ready
/// (Python raises `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the result is not ready yet")
    }
}

impl std::error::Error for NotReady {}
