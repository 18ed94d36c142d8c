//! Python's `multiprocessing.Process` for Rust: fork, spawn and forkserver start methods,
//! exit codes, daemons, `current_process`, `active_children` and `cpu_count`.
//!
//! ```
//! use mp_process::Process;
//!
//! let mut p = Process::new(|| {
//!     println!("hello from {}", mp_process::current_process().name());
//! });
//! p.start()?;
//! assert_eq!(p.join(), Some(0)); // Python's exitcode
//! # Ok::<(), mp_process::StartError>(())
//! ```
//!
//! # Targets and start methods
//! A closure runs in a **fork** child ([`Process::new`]). An entry function `fn(A)` with
//! rkyv-serializable arguments runs under any [`StartMethod`] ([`Process::entry`]):
//! **spawn** re-executes this binary, **forkserver** asks a small single-threaded server
//! (started once, on first use) to fork. The process-wide default is
//! [`set_start_method`]; a [`Builder`] chooses per process.
//!
//! # The hook (spawn and forkserver)
//! A re-executed child must not run `main`: put the hook first thing in `main`,
//!
//! ```no_run
//! fn main() {
//!     let _mp = mp_process::init(); // a spawned child runs its entry here and exits
//!     // ... the program; `_mp` joins the children when main returns
//! }
//! ```
//!
//! or, where `main` is not yours (test binaries, criterion benches), once at the root
//! of the crate: `mp_process::hook!();`. It runs the same check before `main`. Without
//! either, `start` fails with [`StartError::is_hook_missing`], but not at once in every
//! binary: a test binary rejects the child's `--mp-process-child` argument and exits, so
//! the error comes at once; a program that ignores its arguments runs its own `main` in
//! the child until the parent, unanswered for 30 s, kills it. So call `init()` before
//! anything else `main` does.
//!
//! # Exit codes
//! [`Process::exitcode`] is `None` while the child runs, then `Some(0)`, `Some(n)` after
//! `std::process::exit(n)` (or [`exit`]), `Some(1)` after a panic (the message is on
//! stderr; with `panic = "abort"` in the profile it is `Some(-6)`, SIGABRT), `Some(-N)`
//! after signal `N`. The child never unwinds into the parent's code:
//! it leaves with `_exit` after flushing stdout and stderr.
//!
//! # Daemons and the parent's exit
//! A daemon child gets `PR_SET_PDEATHSIG(SIGKILL)` (plus a `getppid` re-check for the
//! race) and so dies when its parent dies, even by SIGKILL. The signal follows the
//! *thread* that started the child: start daemons from a thread that lives as long as
//! they should (e.g. the main thread). Forkserver daemons die with the server, which
//! exits when the parent process does.
//!
//! Rust has no `atexit` for children: when `main` returns, non-daemon children simply
//! keep running (reparented), daemon children are killed. Python instead terminates the
//! daemons and joins the rest; [`shutdown`] does exactly that, and the guard returned by
//! [`init`] calls it when `main` returns.
//!
//! # Handing resources to a child
//! A fork child inherits everything. A spawned or forkserver child gets its arguments
//! plus the descriptors given to [`Builder::pass_fd`], at the same numbers: pass an
//! `ipc_core` segment or ring by its handle (`fd:size`) in the arguments and its fd with
//! `pass_fd`; the child maps it with `from_handle`. A queue's or pipe's ring passed so
//! counts as held by the child from its start (`ipc_core::ring::hold_inherited`).
//!
//! # Where things live
//! `process.rs` is `Process`, its `Builder` and `Run`; `handle.rs` a started child as
//! the parent sees it; `child.rs` the child's side of every start method; `spawn.rs`
//! (re-exec, and the hook that `init` runs) and `forkserver.rs` their start methods;
//! `entry.rs` entry functions and their arguments across `exec`; `state.rs` the
//! process-wide state a child must not inherit as-is; `sys.rs` the Linux calls.

// The hook's examples are about `main` itself.
#![allow(clippy::needless_doctest_main)]

mod child;
mod entry;
mod error;
mod forkserver;
mod handle;
mod process;
mod spawn;
mod state;
mod sys;

use std::time::Duration;

pub use entry::Args;
pub use error::{ArgsError, CloseError, StartError};
pub use handle::ActiveChild;
pub use process::{get_start_method, set_start_method, Builder, Process, Run, StartMethod};

/// The hook for spawn and forkserver children: call it first thing in `main`.
///
/// In the parent it returns at once. In a child this crate re-executed, it runs the
/// child's entry function (or the forkserver) and exits: it never returns there.
/// The returned guard calls [`shutdown`] when dropped (at the end of `main`), which gives
/// Python's exit behaviour; drop it early or `std::mem::forget` it to opt out.
///
/// ```no_run
/// fn main() {
///     let _mp = mp_process::init();
/// }
/// ```
#[must_use = "the guard runs mp_process::shutdown() when main returns: bind it to `_mp`"]
pub fn init() -> InitGuard {
    spawn::child_hook();
    InitGuard(())
}

/// Returned by [`init`]; calls [`shutdown`] when dropped.
#[derive(Debug)]
pub struct InitGuard(());

impl Drop for InitGuard {
    fn drop(&mut self) {
        shutdown();
    }
}

/// Places the spawn/forkserver hook in a binary whose `main` is not yours (a test
/// binary, a criterion bench): put it once at the root of that crate.
///
/// It adds a function to the ELF `.init_array`, which runs before `main` (and before
/// libtest or criterion parse their arguments): in a child this crate re-executed it runs
/// the child and exits; otherwise it returns at once.
///
/// ```ignore
/// // tests/my_test.rs
/// mp_process::hook!();
///
/// #[test]
/// fn spawned_child_runs() { /* Process::builder().start_method(Spawn)... */ }
/// ```
#[macro_export]
macro_rules! hook {
    () => {
        #[used]
        #[link_section = ".init_array"]
        static __MP_PROCESS_HOOK: extern "C" fn() = {
            extern "C" fn __mp_process_hook() {
                $crate::__child_hook();
            }
            __mp_process_hook
        };
    };
}

/// What [`hook!`] runs. Not a public API.
#[doc(hidden)]
pub fn __child_hook() {
    spawn::child_hook();
}

/// Python's exit sequence: terminate (SIGTERM) the daemon children, then join every
/// child still running, then stop the forkserver if one was started. A child started by
/// this crate runs it itself once its target returns or panics, as Python's does; not
/// on [`exit`], which is Python's `os._exit`.
///
/// ```
/// use mp_process::Process;
///
/// let mut d = Process::builder()
///     .daemon(true)
///     .target(|| std::thread::sleep(std::time::Duration::from_secs(60)));
/// d.start()?;
/// mp_process::shutdown();
/// assert_eq!(d.exitcode(), Some(-libc::SIGTERM));
/// # Ok::<(), mp_process::StartError>(())
/// ```
pub fn shutdown() {
    let children = active_children();
    for c in children.iter().filter(|c| c.daemon()) {
        let _ = c.terminate();
    }
    for c in &children {
        c.join();
    }
    forkserver::stop();
}

/// This process as Python's `current_process()` describes it. Its `Display` is Python's
/// `repr`: `<Process name='worker' parent=4242 started>` in a child (` daemon` added for a
/// daemon), `<_MainProcess name='MainProcess' parent=None started>` in the main process.
///
/// # Examples
///
/// ```
/// use mp_process::{current_process, Process};
///
/// let me = current_process();
/// assert_eq!(me.to_string(), "<_MainProcess name='MainProcess' parent=None started>");
/// let mut p = Process::builder().name("Bob's\tjob").target(|| {
///     let shown = current_process().to_string(); // quoted as Python's repr quotes it
///     assert!(shown.starts_with(r#"<Process name="Bob's\tjob" parent="#), "{shown}");
/// });
/// p.start()?;
/// assert_eq!(p.join(), Some(0));
/// let parent = std::process::id();
/// let mut p = Process::builder().name("worker").daemon(true).target(move || {
///     let want = format!("<Process name='worker' parent={parent} started daemon>");
///     assert_eq!(current_process().to_string(), want);
/// });
/// p.start()?;
/// assert_eq!(p.join(), Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    name: String,
    pid: u32,
    daemon: bool,
    parent: Option<u32>,
}

/// A string as Python's `repr` writes it: in single quotes, or double ones when it holds
/// a `'` and no `"`; backslash, the quote, `\n`, `\r`, `\t` and other control
/// characters escaped.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl std::fmt::Display for ProcessInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let class = if self.parent.is_some() {
            "Process"
        } else {
            "_MainProcess"
        };
        write!(f, "<{class} name={} parent=", py_repr(&self.name))?;
        match self.parent {
            Some(pid) => write!(f, "{pid}")?,
            None => f.write_str("None")?,
        }
        f.write_str(" started")?;
        if self.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

impl ProcessInfo {
    /// `MainProcess` in the main process, the child's name in a child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{current_process, Process};
    ///
    /// assert_eq!(current_process().name(), "MainProcess");
    /// let mut p = Process::builder().name("worker").target(|| {
    ///     assert_eq!(current_process().name(), "worker");
    /// });
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0)); // 1 if the child's assert had failed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{current_process, Process};
    ///
    /// let parent = std::process::id();
    /// assert_eq!(current_process().pid(), parent);
    /// let mut p = Process::new(move || {
    ///     let me = current_process().pid();
    ///     assert!(me == std::process::id() && me != parent);
    /// });
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True in a daemon child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{current_process, Process};
    ///
    /// assert!(!current_process().daemon());
    /// let mut p = Process::builder()
    ///     .daemon(true)
    ///     .target(|| assert!(current_process().daemon()));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

/// The calling process: name, pid, daemon flag.
///
/// ```
/// let me = mp_process::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// ```
pub fn current_process() -> ProcessInfo {
    let me = state::me();
    ProcessInfo {
        name: me.name.clone(),
        pid: std::process::id(),
        daemon: me.daemon,
        parent: me.parent.as_ref().map(|p| p.id.pid),
    }
}

/// The process that started this one (Python's `parent_process()`); `None` in the main
/// process.
#[derive(Debug, Clone)]
pub struct ParentProcess {
    id: ipc_core::ProcessId,
    name: String,
}

impl ParentProcess {
    /// The parent's pid.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{parent_process, Process};
    ///
    /// let me = std::process::id();
    /// let mut p = Process::new(move || assert_eq!(parent_process().unwrap().pid(), me));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.id.pid
    }

    /// The parent's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{parent_process, Process};
    ///
    /// let mut p = Process::builder().name("outer").target(|| {
    ///     assert_eq!(parent_process().unwrap().name(), "MainProcess");
    ///     let mut inner = Process::new(|| {
    ///         assert_eq!(parent_process().unwrap().name(), "outer");
    ///     });
    ///     inner.start().unwrap();
    ///     assert_eq!(inner.join(), Some(0));
    /// });
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True while the parent runs (pid and start time: a recycled pid is not mistaken
    /// for it).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{parent_process, Process};
    ///
    /// let mut p = Process::new(|| assert!(parent_process().unwrap().is_alive()));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.id.is_alive()
    }
}

/// The process that started this one; `None` in the main process.
///
/// ```
/// use mp_process::{parent_process, Process};
///
/// assert!(parent_process().is_none());
/// let me = std::process::id();
/// let mut p = Process::new(move || {
///     let parent = parent_process().expect("a child has a parent");
///     let ok = parent.pid() == me && parent.is_alive() && parent.name() == "MainProcess";
///     std::process::exit(if ok { 0 } else { 1 });
/// });
/// p.start()?;
/// assert_eq!(p.join(), Some(0));
/// # Ok::<(), mp_process::StartError>(())
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    state::me().parent.as_ref().map(|p| ParentProcess {
        id: p.id,
        name: p.name.clone(),
    })
}

/// The children of this process that are still running. Children that have ended are
/// reaped on the way (Python's `active_children`), so a process that never joins does
/// not collect zombies if it calls this now and then.
///
/// ```
/// use mp_process::{active_children, Process};
///
/// let mut p = Process::new(|| {});
/// p.start()?;
/// p.join();
/// assert!(active_children().iter().all(|c| Some(c.pid()) != p.pid()));
/// # Ok::<(), mp_process::StartError>(())
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    state::children()
        .into_iter()
        .filter(|c| c.is_alive())
        .map(ActiveChild)
        .collect()
}

/// The number of CPUs this process may run on (its affinity mask, `sched_getaffinity`),
/// which is what sizing a pool needs; falls back to the online count.
///
/// ```
/// assert!(mp_process::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    // Not `available_parallelism` first: it also applies cgroup CPU quotas, which Python's
    // `os.process_cpu_count` (the affinity mask, what `Pool()` sizes itself by) does not.
    // SAFETY: cpu_set_t is a plain bit array; all-zero is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for size_of::<cpu_set_t>() bytes.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc == 0 {
        // SAFETY: `set` was filled in by the kernel.
        let n = unsafe { libc::CPU_COUNT(&set) };
        if n > 0 {
            return n as usize;
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Ends the calling process with `code` at once: flushes stdout and stderr, then
/// `_exit` (no exit handlers inherited from a forked parent run).
///
/// # Examples
///
/// ```
/// let mut p = mp_process::Process::new(|| {
///     print!("no newline, still buffered: "); // flushed before the exit
///     mp_process::exit(3)
/// });
/// p.start()?;
/// assert_eq!(p.join(), Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn exit(code: i32) -> ! {
    sys::exit_now(code)
}

/// Functions as offsets inside this binary, valid in every child of the same binary
/// (fork, spawn or forkserver: ASLR moves the whole image at once). mp-pool sends its
/// task functions to workers this way. Not a public API.
#[doc(hidden)]
pub mod code {
    pub use crate::entry::{address_of, offset_of};
}

/// How long a spawned child may take to reach the hook before `start` gives up.
pub const HOOK_TIMEOUT: Duration = spawn::HOOK_TIMEOUT;
