//! Errors of starting and closing processes.

use std::fmt;
use std::io;

/// Why [`Process::start`](crate::Process::start) failed. The child did not run.
///
/// An opaque struct so that new causes can be added; ask it with the `is_*` methods.
#[derive(Debug)]
pub struct StartError {
    kind: Kind,
    message: String,
    source: Option<io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AlreadyStarted,
    NeedsFork,
    HookMissing,
    Os,
    Child,
}

impl StartError {
    pub(crate) fn already_started() -> StartError {
        StartError::new(
            Kind::AlreadyStarted,
            "a process can be started only once".into(),
        )
    }

    pub(crate) fn needs_fork(method: crate::StartMethod) -> StartError {
        StartError::new(
            Kind::NeedsFork,
            format!(
                "a closure cannot cross exec, so it cannot start with {method:?}: use \
                 StartMethod::Fork for this process, or an entry function \
                 (Process::entry / Builder::entry) for spawn and forkserver"
            ),
        )
    }

    pub(crate) fn hook_missing(what: String) -> StartError {
        StartError::new(
            Kind::HookMissing,
            format!(
                "the spawned child did not reach mp_process::init() ({what}): call \
                 `let _mp = mp_process::init();` first thing in main, or put \
                 `mp_process::hook!();` at the root of the binary or test crate"
            ),
        )
    }

    pub(crate) fn os(context: &str, e: io::Error) -> StartError {
        StartError {
            kind: Kind::Os,
            message: format!("{context}: {e}"),
            source: Some(e),
        }
    }

    pub(crate) fn child(message: String) -> StartError {
        StartError::new(Kind::Child, message)
    }

    fn new(kind: Kind, message: String) -> StartError {
        StartError {
            kind,
            message,
            source: None,
        }
    }

    /// `start` was called a second time.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| {});
    /// p.start()?;
    /// assert!(p.start().unwrap_err().is_already_started());
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_already_started(&self) -> bool {
        self.kind == Kind::AlreadyStarted
    }

    /// A closure process was asked to start with spawn or forkserver.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{Process, StartMethod};
    ///
    /// let mut p = Process::builder().start_method(StartMethod::Spawn).target(|| {});
    /// let e = p.start().unwrap_err(); // a closure cannot cross exec
    /// assert!(e.is_needs_fork());
    /// assert_eq!(p.pid(), None); // nothing started
    /// ```
    pub fn is_needs_fork(&self) -> bool {
        self.kind == Kind::NeedsFork
    }

    /// The re-executed binary never called [`init`](crate::init) (or the
    /// [`hook!`](crate::hook) was not placed).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{Process, StartMethod};
    ///
    /// fn work(_: ()) {}
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     // No hook in this binary: its spawned child runs `main`, and leaves here at once.
    ///     if std::env::args().nth(1).as_deref() == Some("--mp-process-child") {
    ///         std::process::exit(2);
    ///     }
    ///     let mut p = Process::builder().start_method(StartMethod::Spawn).entry(work, &())?;
    ///     assert!(p.start().unwrap_err().is_hook_missing());
    ///     Ok(())
    /// }
    /// ```
    pub fn is_hook_missing(&self) -> bool {
        self.kind == Kind::HookMissing
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot start the process: {}", self.message)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Entry-function arguments that rkyv could not serialize, or that failed validation in
/// the child.
#[derive(Debug, Clone)]
pub struct ArgsError {
    message: String,
}

impl ArgsError {
    pub(crate) fn new(message: String) -> ArgsError {
        ArgsError { message }
    }
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ArgsError {}

impl From<ArgsError> for StartError {
    fn from(e: ArgsError) -> StartError {
        StartError::child(e.message)
    }
}

/// [`Process::close`](crate::Process::close) on a process that still runs: the process
/// is handed back by [`into_inner`](CloseError::into_inner).
pub struct CloseError(pub(crate) Box<crate::Process>);

impl CloseError {
    /// The process that could not be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let p = p.close().unwrap_err().into_inner(); // still running: handed back
    /// p.kill()?;
    /// assert_eq!(p.join(), Some(-libc::SIGKILL));
    /// p.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> crate::Process {
        *self.0
    }
}

impl fmt::Debug for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CloseError").finish_non_exhaustive()
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot close a process that is still running: join or terminate it first")
    }
}

impl std::error::Error for CloseError {}
