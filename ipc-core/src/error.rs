//! Error types: one per operation, each saying what happened and what to do.

use std::fmt;
use std::io;

/// Creating, opening or attaching a segment or a ring failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// A system call failed.
    Io(io::Error),
    /// The file is smaller than the layout it must hold.
    TooSmall {
        /// Bytes found.
        size: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The segment does not start with this library's magic number.
    BadMagic,
    /// The segment was made by an incompatible version of this library.
    VersionMismatch {
        /// Layout version found in the segment.
        found: u32,
        /// Layout version this build understands.
        expected: u32,
    },
    /// The creator has not finished initialising the segment (retry shortly).
    NotInitialized,
    /// The header's size disagrees with the file's.
    SizeMismatch {
        /// Size recorded in the header (or handle).
        header: usize,
        /// Size of the file.
        file: usize,
    },
    /// The segment holds another kind of object.
    WrongKind {
        /// Kind found.
        found: u32,
        /// Kind expected.
        expected: u32,
    },
    /// The layout inside the segment is inconsistent.
    Corrupted(Corrupted),
    /// A handle string is not `fd:size`.
    BadHandle(String),
    /// A segment name is not a valid `shm_open` name.
    BadName(String),
    /// The requested size does not fit in memory.
    TooLarge(usize),
    /// An option is out of range.
    InvalidConfig(&'static str),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "shared memory system call failed: {e}"),
            OpenError::TooSmall { size, need } => {
                write!(
                    f,
                    "segment of {size} bytes is smaller than the {need} bytes its layout needs"
                )
            }
            OpenError::BadMagic => write!(f, "not a segment of this library (bad magic number)"),
            OpenError::VersionMismatch { found, expected } => write!(
                f,
                "segment layout version {found} does not match this build's version {expected}; \
                 build both programs against the same ipc-core"
            ),
            OpenError::NotInitialized => {
                write!(
                    f,
                    "segment is not initialised yet; its creator is still building it, retry"
                )
            }
            OpenError::SizeMismatch { header, file } => {
                write!(
                    f,
                    "segment header says {header} bytes but the file has {file}"
                )
            }
            OpenError::WrongKind { found, expected } => {
                write!(
                    f,
                    "segment holds object kind {found:#x}, expected {expected:#x}"
                )
            }
            OpenError::Corrupted(c) => write!(f, "{c}"),
            OpenError::BadHandle(s) => write!(f, "segment handle {s:?} is not of the form fd:size"),
            OpenError::BadName(s) => write!(f, "segment name {s:?} is not a valid shm name"),
            OpenError::TooLarge(n) => {
                write!(f, "segment of {n} bytes does not fit in the address space")
            }
            OpenError::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io(e) => Some(e),
            OpenError::Corrupted(c) => Some(c),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// Shared memory held a value no correct peer writes: the segment is corrupted (a bug or a
/// hostile process). The operation was refused; nothing was read out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupted {
    pub(crate) what: &'static str,
}

impl fmt::Display for Corrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shared memory is corrupted: {}; recreate the queue",
            self.what
        )
    }
}

impl std::error::Error for Corrupted {}

/// Why a push did not enqueue the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The ring is full (`try_push`): no room in items or bytes right now.
    Full,
    /// The ring stayed full until the deadline.
    Timeout,
    /// Every consumer handle is gone, so the record could never be read; or this
    /// producer handle was closed.
    Closed,
    /// The record can never fit: it is larger than the ring's byte capacity.
    TooLarge {
        /// Bytes in the record.
        len: usize,
        /// Largest record the ring can hold.
        max: usize,
    },
    /// Every participant slot is held by a live process.
    TooManyProcesses,
    /// The shared state is corrupted.
    Corrupted(Corrupted),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full => write!(f, "ring is full"),
            PushError::Timeout => write!(f, "ring stayed full until the timeout"),
            PushError::Closed => write!(
                f,
                "every consumer has closed the ring (or this handle is closed)"
            ),
            PushError::TooLarge { len, max } => write!(
                f,
                "message of {len} bytes exceeds the largest the ring can hold ({max} bytes); \
                 create the ring with a larger capacity"
            ),
            PushError::TooManyProcesses => write!(f, "{TOO_MANY}"),
            PushError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for PushError {}

/// Why a pop returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// The ring is empty right now (`try_pop`).
    Empty,
    /// The ring stayed empty until the deadline.
    Timeout,
    /// The ring is drained and every producer handle is gone or closed; or this consumer
    /// handle was closed.
    Closed,
    /// Every participant slot is held by a live process.
    TooManyProcesses,
    /// The shared state is corrupted.
    Corrupted(Corrupted),
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Empty => write!(f, "ring is empty"),
            PopError::Timeout => write!(f, "ring stayed empty until the timeout"),
            PopError::Closed => write!(
                f,
                "ring is drained and every producer has closed it (or this handle is closed)"
            ),
            PopError::TooManyProcesses => write!(f, "{TOO_MANY}"),
            PopError::Corrupted(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for PopError {}

impl From<Corrupted> for PushError {
    fn from(c: Corrupted) -> Self {
        PushError::Corrupted(c)
    }
}

impl From<Corrupted> for PopError {
    fn from(c: Corrupted) -> Self {
        PopError::Corrupted(c)
    }
}

const TOO_MANY: &str =
    "every participant slot of the ring is held by a live process; create it with more slots";

pub(crate) const fn corrupted(what: &'static str) -> Corrupted {
    Corrupted { what }
}
