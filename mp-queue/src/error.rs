//! Errors: one type per operation. Errors from `put`/`send` hand the value back, and their
//! `Debug` never prints it.

use std::fmt;

use ipc_core::{OpenError, PopError, PushError};
use rkyv::rancor;

/// Something below the queue failed: opening shared memory, a corrupted segment, a
/// serializer error, too many processes. Says what happened in words.
pub struct Error {
    repr: Repr,
}

enum Repr {
    Open(OpenError),
    Push(PushError),
    Pop(PopError),
    Rkyv(rancor::Error),
    Handle(String),
}

impl Error {
    pub(crate) fn handle(msg: impl Into<String>) -> Error {
        Error {
            repr: Repr::Handle(msg.into()),
        }
    }

    pub(crate) fn rkyv(e: rancor::Error) -> Error {
        Error {
            repr: Repr::Rkyv(e),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({self})")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Open(e) => write!(f, "cannot open the queue's shared memory: {e}"),
            Repr::Push(e) => write!(f, "{e}"),
            Repr::Pop(e) => write!(f, "{e}"),
            Repr::Rkyv(e) => write!(f, "message (de)serialization failed: {e}"),
            Repr::Handle(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Open(e) => Some(e),
            Repr::Push(e) => Some(e),
            Repr::Pop(e) => Some(e),
            Repr::Rkyv(e) => Some(e),
            Repr::Handle(_) => None,
        }
    }
}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        Error {
            repr: Repr::Open(e),
        }
    }
}

/// `put` / `send` failed; the value comes back with the reason.
///
/// `Debug` shows the reason, never the value (it may be large or secret).
pub enum PutError<T> {
    /// The queue is full (from `try_put`).
    Full(T),
    /// The queue stayed full until the timeout.
    Timeout(T),
    /// This handle was closed; for a pipe's end, also once the other end is gone. (A
    /// queue never lacks a reader while someone can put: every queue handle can get too.)
    Closed(T),
    /// The serialized value is larger than the queue's capacity; it can never fit.
    TooLarge {
        /// The value.
        value: T,
        /// Its serialized size in bytes.
        len: usize,
        /// The largest record the queue holds.
        max: usize,
    },
    /// The shared memory is corrupted, the serializer failed, the queue has no slot
    /// left for another process, or this is the receiving end of a simplex pipe.
    Failed {
        /// The value.
        value: T,
        /// What went wrong.
        error: Error,
    },
}

impl<T> PutError<T> {
    /// The value that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<String> = Queue::builder().maxsize(1).create()?;
    /// q.put("first".to_string())?;
    /// let e = q.try_put("second".to_string()).unwrap_err();
    /// assert!(matches!(e, PutError::Full(_)));
    /// assert_eq!(e.into_inner(), "second"); // not lost
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::Timeout(v) | PutError::Closed(v) => v,
            PutError::TooLarge { value, .. } | PutError::Failed { value, .. } => value,
        }
    }

    /// The same error without its value (e.g. to keep the reason after taking the value).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<Vec<u8>> = Queue::new()?;
    /// q.close();
    /// let e = q.put(vec![0; 4096]).unwrap_err().without_value(); // the Vec is dropped
    /// assert_eq!(e, PutError::Closed(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_value(self) -> PutError<()> {
        self.map_value(|_| ())
    }

    /// The same reason, carrying `f(value)` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, Queue};
    ///
    /// let q: Queue<String> = Queue::builder().maxsize(1).create()?;
    /// q.put("a".to_string())?;
    /// let e = q.try_put("bcd".to_string()).unwrap_err().map_value(|s| s.len());
    /// assert_eq!(e, PutError::Full(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_value<U>(self, f: impl FnOnce(T) -> U) -> PutError<U> {
        match self {
            PutError::Full(v) => PutError::Full(f(v)),
            PutError::Timeout(v) => PutError::Timeout(f(v)),
            PutError::Closed(v) => PutError::Closed(f(v)),
            PutError::TooLarge { value, len, max } => PutError::TooLarge {
                value: f(value),
                len,
                max,
            },
            PutError::Failed { value, error } => PutError::Failed {
                value: f(value),
                error,
            },
        }
    }

    pub(crate) fn from_push(e: PushError, value: T) -> PutError<T> {
        match e {
            PushError::Full => PutError::Full(value),
            PushError::Timeout => PutError::Timeout(value),
            PushError::Closed => PutError::Closed(value),
            PushError::TooLarge { len, max } => PutError::TooLarge { value, len, max },
            e => PutError::Failed {
                value,
                error: Error {
                    repr: Repr::Push(e),
                },
            },
        }
    }

    pub(crate) fn from_fail(e: crate::message::PutFail, value: T) -> PutError<T> {
        match e {
            crate::message::PutFail::Push(e) => PutError::from_push(e, value),
            crate::message::PutFail::Serialize(e) => PutError::Failed {
                value,
                error: Error::rkyv(e),
            },
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::TooLarge { len, max, .. } => f
                .debug_struct("TooLarge")
                .field("len", len)
                .field("max", max)
                .finish_non_exhaustive(),
            PutError::Failed { error, .. } => f
                .debug_struct("Failed")
                .field("error", error)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::Timeout(_) => f.write_str("the queue stayed full until the timeout"),
            PutError::Closed(_) => f.write_str(
                "closed for putting (this handle was closed, or the pipe's other end is gone)",
            ),
            PutError::TooLarge { len, max, .. } => write!(
                f,
                "message of {len} bytes exceeds the queue capacity of {max} bytes; \
                 create the queue with a larger capacity"
            ),
            PutError::Failed { error, .. } => write!(f, "{error}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl<T: PartialEq> PartialEq for PutError<T> {
    /// Equal when the reason and the value are (a `Failed` error never equals another).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PutError::Full(a), PutError::Full(b))
            | (PutError::Timeout(a), PutError::Timeout(b))
            | (PutError::Closed(a), PutError::Closed(b)) => a == b,
            (
                PutError::TooLarge { value, len, max },
                PutError::TooLarge {
                    value: v2,
                    len: l2,
                    max: m2,
                },
            ) => value == v2 && len == l2 && max == m2,
            _ => false,
        }
    }
}

/// `get` / `recv` failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GetError {
    /// Nothing to take (from `try_get`).
    Empty,
    /// Nothing arrived before the timeout.
    Timeout,
    /// The queue is drained and every writer has closed or exited: nothing will come.
    Closed,
    /// The record did not validate as the expected type (a corrupted segment, or a writer
    /// that put another type). The record was consumed; the queue goes on.
    Invalid(Error),
    /// The shared memory is corrupted, the queue has no slot left for this process, or
    /// this is the sending end of a simplex pipe.
    Failed(Error),
}

impl GetError {
    pub(crate) fn from_pop(e: PopError) -> GetError {
        match e {
            PopError::Empty => GetError::Empty,
            PopError::Timeout => GetError::Timeout,
            PopError::Closed => GetError::Closed,
            e => GetError::Failed(Error { repr: Repr::Pop(e) }),
        }
    }
}

impl PartialEq for GetError {
    /// Equal for the same reason (errors carrying an [`Error`] never compare equal).
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (GetError::Empty, GetError::Empty)
                | (GetError::Timeout, GetError::Timeout)
                | (GetError::Closed, GetError::Closed)
        )
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::Timeout => f.write_str("nothing arrived before the timeout"),
            GetError::Closed => {
                f.write_str("the queue is drained and every writer has closed or exited")
            }
            GetError::Invalid(e) => write!(f, "a message failed validation and was dropped: {e}"),
            GetError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Invalid(e) | GetError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// [`JoinableQueue::task_done`](crate::JoinableQueue::task_done) was called more times
/// than items were taken (Python raises `ValueError` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were taken from the queue")
    }
}

impl std::error::Error for TaskDoneError {}

/// [`Connection::recv_bytes_into`](crate::Connection::recv_bytes_into) failed.
///
/// `Debug` shows a returned message's length, never its bytes.
///
/// ```
/// let e = mp_queue::RecvIntoError::BufferTooShort(b"secret".to_vec());
/// assert_eq!(format!("{e:?}"), "BufferTooShort { len: 6, .. }");
/// ```
#[non_exhaustive]
pub enum RecvIntoError {
    /// The message is longer than the buffer (Python's `BufferTooShort`). The whole
    /// message is here: it was taken off the pipe, so it is not lost.
    BufferTooShort(Vec<u8>),
    /// Receiving failed.
    Get(GetError),
}

/// Shows the length of a message handed back, not its bytes (as every error here).
impl fmt::Debug for RecvIntoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvIntoError::BufferTooShort(m) => f
                .debug_struct("BufferTooShort")
                .field("len", &m.len())
                .finish_non_exhaustive(),
            RecvIntoError::Get(e) => f.debug_tuple("Get").field(e).finish(),
        }
    }
}

impl fmt::Display for RecvIntoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvIntoError::BufferTooShort(m) => write!(
                f,
                "message of {} bytes does not fit the buffer; it is returned in the error",
                m.len()
            ),
            RecvIntoError::Get(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RecvIntoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvIntoError::Get(e) => Some(e),
            RecvIntoError::BufferTooShort(_) => None,
        }
    }
}

impl From<GetError> for RecvIntoError {
    fn from(e: GetError) -> Self {
        RecvIntoError::Get(e)
    }
}
