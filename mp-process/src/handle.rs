//! A started child as its parent sees it: pid, pidfd, and how to learn its exit status.
//!
//! Fork and spawn children are our own children: `waitpid` reaps them. Forkserver
//! children are the server's: the server reaps them and reports each raw wait status over
//! its socket. Either way the pidfd becomes readable when the child exits, so waiting is
//! `poll` on the pidfd (with a timeout) and then a reap that cannot block for long.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{forkserver, state, sys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Python's `exitcode`; `None` if the status could not be learned (someone else
    /// reaped the child, or the forkserver died first).
    Done(Option<i32>),
}

/// The parent's record of one started child, shared by its [`Process`](crate::Process)
/// handle and the registry behind [`active_children`](crate::active_children).
pub(crate) struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    name: String,
    daemon: bool,
    /// For a forkserver child, which start it was (see `forkserver::exit_status`).
    server: Option<forkserver::Started>,
    state: Mutex<State>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("state", &*state::lock(&self.state))
            .finish()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(which) = self.server {
            forkserver::forget_status(which); // filed for its callers until now
        }
    }
}

impl Child {
    pub(crate) fn new(
        pid: libc::pid_t,
        pidfd: OwnedFd,
        name: String,
        daemon: bool,
        server: Option<forkserver::Started>,
    ) -> Arc<Child> {
        let child = Arc::new(Child {
            pid,
            pidfd,
            name,
            daemon,
            server,
            state: Mutex::new(State::Running),
        });
        state::register(child.clone());
        child
    }

    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn daemon(&self) -> bool {
        self.daemon
    }

    pub(crate) fn sentinel(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Reaps the child if it has exited, without waiting for it to exit:
    /// `Some(exitcode)` once finished, `None` while it runs. A forkserver child's status
    /// comes from the server moments after its exit: `block` waits for it, else `None`
    /// until it has come.
    pub(crate) fn poll(&self, block: bool) -> Option<Option<i32>> {
        let mut st = state::lock(&self.state);
        if let State::Done(code) = *st {
            return Some(code);
        }
        let code = if let Some(which) = self.server {
            // The pidfd tells whether it exited; the server tells how, moments later.
            // Not under the state lock: a `join` waiting on the server must not hold up
            // `is_alive` or `kill` on this child. The status stays filed until this
            // handle is dropped, so every caller finds it.
            drop(st);
            if !sys::is_readable(self.pidfd.as_fd()).unwrap_or(true) {
                return None;
            }
            let code = forkserver::exit_status(which, block)?.map(sys::exit_code);
            st = state::lock(&self.state);
            code
        } else {
            // Under the state lock: one reaper, so no caller is told the status is lost
            // because another took it.
            match sys::try_wait_pidfd(self.pid, self.pidfd.as_fd()) {
                Ok(None) => return None,
                Ok(Some(code)) => Some(code),
                // ECHILD: reaped by someone else (a `waitpid(-1)` or SIGCHLD ignored).
                Err(_) => None,
            }
        };
        if let State::Done(code) = *st {
            return Some(code); // another caller got there first
        }
        *st = State::Done(code);
        drop(st);
        state::unregister(self);
        Some(code)
    }

    /// Waits until the child exits or `deadline` passes: `Some(exitcode)` or `None`.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<Option<i32>> {
        loop {
            if let Some(code) = self.poll(true) {
                return Some(code);
            }
            match sys::wait_readable(self.pidfd.as_fd(), deadline) {
                Ok(false) => return None,
                Ok(true) => {}
                // Cannot poll (should not happen with our own pidfd): back off and
                // retry by reaping, within the deadline.
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => return None,
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.poll(false).is_none()
    }

    pub(crate) fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        if let State::Done(_) = *state::lock(&self.state) {
            return Ok(());
        }
        sys::pidfd_send_signal(self.pidfd.as_fd(), sig)
    }
}

/// A child returned by [`active_children`](crate::active_children): the same operations
/// as on its [`Process`](crate::Process), from anywhere in the parent.
///
/// # Examples
///
/// ```
/// use mp_process::{active_children, Process};
///
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(30)));
/// p.start()?;
/// let found = active_children().into_iter().find(|c| Some(c.pid()) == p.pid());
/// let child = found.expect("a running child is active");
/// child.terminate()?;
/// assert_eq!(child.join(), Some(-libc::SIGTERM));
/// assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ActiveChild(pub(crate) Arc<Child>);

impl ActiveChild {
    /// The child's pid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// assert_eq!(Some(child.pid()), p.pid());
    /// child.kill()?;
    /// child.join();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> i32 {
        self.0.pid()
    }

    /// The child's name (`Process-N` unless one was given).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let b = Process::builder().name("sleeper");
    /// let mut p = b.target(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// assert_eq!(child.name(), "sleeper");
    /// child.kill()?;
    /// child.join();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// True for a daemon child.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let b = Process::builder().daemon(true);
    /// let mut p = b.target(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// assert!(child.daemon());
    /// child.kill()?;
    /// child.join();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn daemon(&self) -> bool {
        self.0.daemon()
    }

    /// True until the child exits (reaps it when it has).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// assert!(child.is_alive());
    /// child.kill()?;
    /// child.join();
    /// assert!(!child.is_alive());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.0.is_alive()
    }

    /// `None` while running (or once ended, if its status was lost: see
    /// [`Process::join`](crate::Process::join)), else Python's exit code (`-N` after signal `N`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// assert_eq!(child.exitcode(), None); // running
    /// child.kill()?;
    /// child.join();
    /// assert_eq!(child.exitcode(), Some(-libc::SIGKILL));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        self.0.poll(false).flatten()
    }

    /// Waits for the child to exit; returns its exit code (`None` if its status was lost,
    /// as [`Process::join`](crate::Process::join) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// child.terminate()?;
    /// assert_eq!(child.join(), Some(-libc::SIGTERM));
    /// assert_eq!(p.join(), Some(-libc::SIGTERM)); // the same child
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) -> Option<i32> {
        self.0.wait(None).flatten()
    }

    /// Waits at most `timeout`; `None` if the child still runs (or its status was lost).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// let t = Instant::now();
    /// assert_eq!(child.join_timeout(Duration::from_millis(20)), None); // still running
    /// assert!(t.elapsed() >= Duration::from_millis(20));
    /// child.kill()?;
    /// assert_eq!(child.join_timeout(Duration::MAX), Some(-libc::SIGKILL)); // no deadline
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Option<i32> {
        self.0.wait(ipc_core::deadline_after(timeout)).flatten()
    }

    /// Sends SIGTERM.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// child.terminate()?;
    /// assert_eq!(child.join(), Some(-libc::SIGTERM));
    /// child.terminate()?; // it has exited: nothing happens
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.0.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::{active_children, Process};
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let child = active_children().remove(0); // the only child
    /// child.kill()?;
    /// assert_eq!(child.join(), Some(-libc::SIGKILL));
    /// assert!(active_children().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.0.signal(libc::SIGKILL)
    }
}
