//! [`Process`], its [`Builder`] and the [`Run`] trait.

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::entry::{binary_check, Args, EntryCall, Payload, KIND_ENTRY};
use crate::error::{ArgsError, CloseError, StartError};
use crate::handle::Child;
use crate::state::{self, Me};
use crate::{child, forkserver, spawn, sys};

/// How a child process is made (Python's start methods).
///
/// | method | how | target | cost |
/// |---|---|---|---|
/// | `Fork` | `fork()`: the child is a copy of the parent | closure or entry | cheapest |
/// | `Spawn` | re-executes `/proc/self/exe` | entry function | ~1 ms |
/// | `Forkserver` | a server started once forks children | entry function | between |
///
/// Fork from a multi-threaded parent is hazardous: the child has one thread and every
/// lock another thread held at the fork stays locked in it (a `Mutex`, an allocator's
/// lock in a custom allocator). Rust's stdout and stderr locks are the exception: the
/// forking thread takes both (stdout first) across the fork, so a child can always print.
/// Hence, don't fork while holding stderr's lock and printing to stdout in that order on
/// another thread, and a thread blocked writing to a full stdout or stderr pipe delays
/// starts until it is done. Keep a fork child's work to its own data
/// and to this workspace's shared-memory types, or use `Forkserver` (Python 3.14 made it
/// the Linux default for this reason). Spawn and forkserver need the hook: see
/// [`init`](crate::init).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StartMethod {
    /// `fork()`: runs closures and entry functions.
    Fork = 0,
    /// Re-executes this binary; runs entry functions.
    Spawn = 1,
    /// Asks a single-threaded server to fork; runs entry functions.
    Forkserver = 2,
}

impl StartMethod {
    /// Every start method, cheapest first (Python's `get_all_start_methods()` on Linux):
    /// for tests and benches that run the same thing under each.
    ///
    /// ```
    /// use mp_process::StartMethod;
    ///
    /// let names: Vec<&str> = StartMethod::ALL.iter().map(|m| m.as_str()).collect();
    /// assert_eq!(names, ["fork", "spawn", "forkserver"]);
    /// ```
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];

    fn from_u8(v: u8) -> StartMethod {
        match v {
            1 => StartMethod::Spawn,
            2 => StartMethod::Forkserver,
            _ => StartMethod::Fork,
        }
    }

    /// Python's name: `"fork"`, `"spawn"` or `"forkserver"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::StartMethod;
    ///
    /// assert_eq!(StartMethod::Forkserver.as_str(), "forkserver");
    /// assert_eq!(StartMethod::Spawn.to_string(), "spawn"); // Display says the same
    /// assert_eq!(StartMethod::Fork.as_str().parse(), Ok(StartMethod::Fork));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = String;

    /// Parses Python's names.
    ///
    /// ```
    /// use mp_process::StartMethod;
    /// assert_eq!("forkserver".parse(), Ok(StartMethod::Forkserver));
    /// assert!("thread".parse::<StartMethod>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<StartMethod, String> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(format!(
                "unknown start method {other:?}: use fork, spawn or forkserver"
            )),
        }
    }
}

/// Sets the process-wide default start method (Python's `set_start_method`), used by
/// processes whose builder does not choose one. The default default is `Fork`.
///
/// ```
/// use mp_process::{get_start_method, set_start_method, StartMethod};
/// set_start_method(StartMethod::Forkserver);
/// assert_eq!(get_start_method(), StartMethod::Forkserver);
/// # set_start_method(StartMethod::Fork);
/// ```
pub fn set_start_method(method: StartMethod) {
    state::DEFAULT_METHOD.store(method as u8, Ordering::Relaxed);
}

/// The process-wide default start method.
///
/// # Examples
///
/// ```
/// use mp_process::{get_start_method, set_start_method, StartMethod};
///
/// assert_eq!(get_start_method(), StartMethod::Fork); // until set otherwise
/// set_start_method(StartMethod::Spawn);
/// assert_eq!(get_start_method(), StartMethod::Spawn);
/// # set_start_method(StartMethod::Fork);
/// ```
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(state::DEFAULT_METHOD.load(Ordering::Relaxed))
}

/// Python's "subclass `Process` and override `run()`": implement `run` on a struct and
/// start it with [`Process::from_run`] or [`Builder::run`]. Fork only (the value is
/// moved into the child by the fork itself).
///
/// ```
/// use mp_process::{Process, Run};
///
/// struct Countdown(u32);
/// impl Run for Countdown {
///     fn run(&mut self) {
///         while self.0 > 0 {
///             self.0 -= 1;
///         }
///         std::process::exit(if self.0 == 0 { 7 } else { 1 });
///     }
/// }
///
/// let mut p = Process::from_run(Countdown(1000));
/// p.start()?;
/// assert_eq!(p.join(), Some(7));
/// # Ok::<(), mp_process::StartError>(())
/// ```
pub trait Run: Send + 'static {
    /// The child's body.
    fn run(&mut self);
}

/// A closure target, run in a forked child.
type Body = Box<dyn FnOnce() + Send>;

/// What a started child is known by: its pid, its pidfd, and for a forkserver child
/// which start it was.
type Started = (libc::pid_t, OwnedFd, Option<forkserver::Started>);

/// What a `Process` runs: a closure (fork only) or an entry function with its arguments.
enum Target {
    Closure(Body),
    Entry(EntryCall),
}

/// Options for a [`Process`]: name, daemon flag, start method, descriptors to hand over.
///
/// ```
/// use mp_process::{Process, StartMethod};
///
/// let mut p = Process::builder()
///     .name("worker")
///     .daemon(true)
///     .start_method(StartMethod::Fork)
///     .target(|| assert_eq!(mp_process::current_process().name(), "worker"));
/// assert_eq!(p.name(), "worker");
/// p.start()?;
/// assert_eq!(p.join(), Some(0));
/// # Ok::<(), mp_process::StartError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
    method: Option<StartMethod>,
    fds: Vec<RawFd>,
}

impl Builder {
    /// The child's name (default `Process-N`, numbered per parent as Python does:
    /// `Process-1:2` is the second child of `Process-1`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// let p = Process::builder().name("loader").target(|| {});
    /// assert_eq!(p.name(), "loader");
    /// assert!(Process::new(|| {}).name().starts_with("Process-")); // the default
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A daemon child is killed (SIGKILL) when its parent dies, however it dies; see
    /// [`shutdown`](crate::shutdown) for the parent's normal exit.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{current_process, Process};
    ///
    /// let mut p = Process::builder()
    ///     .daemon(true)
    ///     .target(|| assert!(current_process().daemon()));
    /// assert!(p.daemon());
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// The start method, overriding [`get_start_method`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_process::{Process, StartMethod};
    ///
    /// fn work(code: i32) {
    ///     std::process::exit(code);
    /// }
    ///
    /// let mut p = Process::builder().start_method(StartMethod::Spawn).entry(work, &5)?;
    /// p.start()?;
    /// assert_eq!(p.join(), Some(5));
    /// let mut c = Process::builder().start_method(StartMethod::Spawn).target(|| {});
    /// assert!(c.start().unwrap_err().is_needs_fork()); // closures need fork
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Hands descriptor `fd` to the child at the same number (spawn and forkserver; a
    /// fork child inherits everything anyway). This is how a segment, ring or queue
    /// handle (`fd:size`) passed in the arguments stays valid in the child. The
    /// descriptor must stay open until `start` returns.
    ///
    /// A ring's descriptor (a queue's, a pipe's) makes the child count as its writer and
    /// reader from its start, before `start` returns
    /// ([`hold_inherited`](ipc_core::ring::hold_inherited)): the parent may drop its own
    /// handle at once, as Python's examples close their copy, and the queue's reader does
    /// not see `Closed` before the child has put. The child's roles narrow to its
    /// handle's once it attaches the ring and takes a role. Until then (for good, if it
    /// never does) it keeps readers of that queue or pipe from seeing `Closed` until it
    /// exits; children it forks let go of their copies at once. (A forkserver child that
    /// takes more than 10 s to get going is reported started before it holds them.)
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_process::{Process, StartMethod};
    /// use mp_queue::Queue;
    ///
    /// fn greet(handle: String) {
    ///     let q: Queue<String> = Queue::from_handle(handle.parse().unwrap()).unwrap();
    ///     q.put("hello".to_owned()).unwrap();
    /// }
    ///
    /// let q: Queue<String> = Queue::new()?;
    /// let h = q.handle();
    /// let b = Process::builder().start_method(StartMethod::Spawn).pass_fd(h.fd);
    /// let mut p = b.entry(greet, &h.to_string())?;
    /// p.start()?;
    /// assert_eq!(q.get_timeout(Duration::from_secs(30))?, "hello");
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pass_fd(mut self, fd: RawFd) -> Self {
        self.fds.push(fd);
        self
    }

    /// A process that runs `f` (fork start method).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp_process::Process::builder().name("adder");
    /// let mut p = b.target(|| std::process::exit(2 + 3));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn target<F: FnOnce() + Send + 'static>(self, f: F) -> Process {
        self.build(Target::Closure(Box::new(f)))
    }

    /// A process that runs `r.run()` (fork start method).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{Process, Run};
    ///
    /// struct Exit(i32);
    /// impl Run for Exit {
    ///     fn run(&mut self) {
    ///         std::process::exit(self.0);
    ///     }
    /// }
    ///
    /// let mut p = Process::builder().name("runner").run(Exit(4));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run<R: Run>(self, mut r: R) -> Process {
        self.target(move || r.run())
    }

    /// A process that runs `entry(args)`, with any start method. `args` is serialized
    /// (rkyv) now and validated in the child.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_process::{Process, StartMethod};
    ///
    /// fn work(code: i32) {
    ///     std::process::exit(code);
    /// }
    ///
    /// let mut p = Process::builder().start_method(StartMethod::Forkserver).entry(work, &6)?;
    /// p.start()?;
    /// assert_eq!(p.join(), Some(6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entry<A: Args>(self, entry: fn(A), args: &A) -> Result<Process, ArgsError> {
        Ok(self.build(Target::Entry(EntryCall::new(entry, args)?)))
    }

    fn build(self, target: Target) -> Process {
        let (identity, default_name) = state::next_identity();
        Process {
            name: self.name.unwrap_or(default_name),
            daemon: self.daemon,
            method: self.method,
            fds: self.fds,
            identity,
            target: Mutex::new(Some(target)),
            child: None,
        }
    }
}

/// A child process, Python's `multiprocessing.Process`.
///
/// ```
/// use mp_process::Process;
///
/// let mut p = Process::new(|| println!("hello from the child"));
/// p.start()?;
/// assert_eq!(p.join(), Some(0));
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), mp_process::StartError>(())
/// ```
///
/// Dropping a `Process` neither waits for nor kills the child: it stays listed by
/// [`active_children`](crate::active_children), and [`shutdown`](crate::shutdown) (which
/// a child runs itself when its target returns) joins it. Once it has ended, the next
/// `active_children` or [`start`](Self::start) reaps it, as in Python.
pub struct Process {
    name: String,
    daemon: bool,
    method: Option<StartMethod>,
    fds: Vec<RawFd>,
    identity: Vec<u32>,
    target: Mutex<Option<Target>>,
    child: Option<Arc<Child>>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Options: name, daemon, start method, descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = mp_process::Process::builder().name("w").daemon(true).target(|| {});
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A process that runs `f` when started (fork start method).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// let mut ok = Process::new(|| {});
    /// let mut bad = Process::new(|| panic!("boom")); // the message goes to stderr
    /// ok.start()?;
    /// bad.start()?;
    /// assert_eq!(ok.join(), Some(0));
    /// assert_eq!(bad.join(), Some(1)); // a panic is exit code 1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<F: FnOnce() + Send + 'static>(f: F) -> Process {
        Builder::default().target(f)
    }

    /// A process that runs `r.run()` when started (fork start method).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::{Process, Run};
    ///
    /// struct Job(i32);
    /// impl Run for Job {
    ///     fn run(&mut self) {
    ///         std::process::exit(self.0 * 3);
    ///     }
    /// }
    ///
    /// let mut p = Process::from_run(Job(3));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_run<R: Run>(r: R) -> Process {
        Builder::default().run(r)
    }

    /// A process that runs `entry(args)` with the default start method.
    ///
    /// ```
    /// use mp_process::{Process, StartMethod};
    ///
    /// fn work((n, word): (u32, String)) {
    ///     std::process::exit(if word == "seven" { n as i32 } else { 1 });
    /// }
    ///
    /// let mut p = Process::entry(work, &(7, "seven".to_owned()))?;
    /// p.start()?;
    /// assert_eq!(p.join(), Some(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entry<A: Args>(entry: fn(A), args: &A) -> Result<Process, ArgsError> {
        Builder::default().entry(entry, args)
    }

    /// Starts the child. Once only; but a start that failed may be tried again, as in
    /// Python (a child forked whose pidfd could not be opened is killed first: it may
    /// have begun its work).
    ///
    /// With spawn or forkserver, returns once the child has reached the hook
    /// ([`init`](crate::init)), so a missing hook is an error here
    /// ([`StartError::is_hook_missing`]), never a second run of `main`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_process::{Process, StartMethod};
    ///
    /// fn hello(_: ()) {}
    ///
    /// let mut p = Process::builder().start_method(StartMethod::Spawn).entry(hello, &())?;
    /// p.start()?; // returns once the child has reached the hook
    /// assert!(p.start().unwrap_err().is_already_started()); // once only
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(&mut self) -> Result<(), StartError> {
        if self.child.is_some() {
            return Err(StartError::already_started());
        }
        // Python's `start` first reaps the children that have ended (`_cleanup`), so a
        // program that starts children and never joins them keeps no zombies (nor their
        // pidfds) beyond the ones still unreaped since its last start.
        for c in state::children() {
            let _ = c.poll(false);
        }
        let target = self
            .target
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(StartError::already_started)?;
        let method = self.method.unwrap_or_else(get_start_method);
        let (pid, pidfd, server) = match self.start_child(target, method) {
            Ok(started) => started,
            Err((e, target)) => {
                // As in Python, a start that failed may be tried again.
                *self.target.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(target);
                return Err(e);
            }
        };
        self.child = Some(Child::new(
            pid,
            pidfd,
            self.name.clone(),
            self.daemon,
            server,
        ));
        Ok(())
    }

    /// Starts the child by `method`; on failure, the error and the target back.
    fn start_child(
        &self,
        target: Target,
        method: StartMethod,
    ) -> Result<Started, (StartError, Target)> {
        match (target, method) {
            (Target::Closure(f), StartMethod::Fork) => {
                self.fork(f).map_err(|(e, f)| (e, Target::Closure(f)))
            }
            (Target::Closure(f), m) => Err((StartError::needs_fork(m), Target::Closure(f))),
            (Target::Entry(call), StartMethod::Fork) => {
                let check = binary_check();
                let kept = call.clone();
                let body = Box::new(move || {
                    if let Err(e) = call.run(check) {
                        eprintln!("mp_process: the child cannot run its entry function: {e}");
                        sys::exit_now(1);
                    }
                });
                self.fork(body).map_err(|(e, _)| (e, Target::Entry(kept)))
            }
            (Target::Entry(call), StartMethod::Spawn) => {
                match spawn::spawn(&self.payload(call.clone()), &self.fds) {
                    Ok((pid, fd)) => Ok((pid, fd, None)),
                    Err(e) => Err((e, Target::Entry(call))),
                }
            }
            (Target::Entry(call), StartMethod::Forkserver) => {
                match forkserver::start_child(&self.payload(call.clone()), &self.fds) {
                    Ok((pid, fd, which)) => Ok((pid, fd, Some(which))),
                    Err(e) => Err((e, Target::Entry(call))),
                }
            }
        }
    }

    fn payload(&self, call: EntryCall) -> Payload {
        let parent = state::as_parent();
        Payload {
            kind: KIND_ENTRY,
            name: self.name.clone(),
            daemon: self.daemon,
            identity: self.identity.clone(),
            parent_pid: parent.id.pid,
            parent_start_time: parent.id.start_time,
            parent_name: parent.name,
            check: binary_check(),
            trampoline: call.trampoline,
            entry: call.entry,
            args: call.args,
            fds: self.fds.clone(),
            sock: -1,
        }
    }

    /// Forks a child that runs `body`; on failure, the error and `body` back. (A child
    /// forked but not watchable, without a pidfd, is killed at once; it may have begun.)
    fn fork(&self, body: Body) -> Result<Started, (StartError, Body)> {
        // Built before the fork, so that the child allocates nothing to take it on.
        let me = Box::into_raw(Box::new(Me {
            name: self.name.clone(),
            daemon: self.daemon,
            identity: self.identity.clone(),
            parent: Some(state::as_parent()),
        }));
        let parent = sys::getpid();
        // Rust's stdout and stderr locks are held across the fork, by this thread: a lock
        // another thread held at the fork would stay held in the child, with no thread to
        // release it, and the child would hang at its first print, panic message, or the
        // flush at its exit. This thread exists in the child too, so it releases them
        // there. Python flushes too: buffered output would otherwise be written twice.
        let mut out = io::stdout().lock();
        let err = io::stderr().lock();
        let _ = out.flush();
        // SAFETY: the child only runs `body` and leaves with `_exit` (run_as_child); see
        // StartMethod for what a child of a multi-threaded parent may touch.
        let pid = unsafe { libc::fork() };
        drop((out, err));
        if pid == 0 {
            state::S.me.set_prebuilt(me);
            child::run_as_child(self.daemon.then_some(parent), body);
        }
        // SAFETY: `me` came from Box::into_raw above and only the child (another process)
        // took it over.
        drop(unsafe { Box::from_raw(me) });
        if pid < 0 {
            return Err((StartError::os("fork", sys::errno()), body));
        }
        match sys::pidfd_open(pid) {
            Ok(fd) => Ok((pid, fd, None)),
            Err(e) => {
                sys::kill_and_reap(pid);
                Err((StartError::os("pidfd_open", e), body))
            }
        }
    }

    fn started(&self, what: &str) -> &Child {
        match &self.child {
            Some(c) => c,
            None => panic!(
                "{what} called on process {:?} that was not started",
                self.name
            ),
        }
    }

    /// The child's pid; `None` before `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| {});
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// let pid = p.pid().expect("started");
    /// assert_eq!(p.join(), Some(0));
    /// assert_eq!(p.pid(), Some(pid)); // still known once it has ended
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.pid())
    }

    /// The name (`Process-N` unless given).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| {
    ///     let inner = Process::new(|| {});
    ///     assert_eq!(inner.name(), "Process-1:1"); // the first child of Process-1
    /// });
    /// assert_eq!(p.name(), "Process-1");
    /// p.start()?;
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for a daemon process.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_process::Process;
    ///
    /// assert!(!Process::new(|| {}).daemon());
    /// assert!(Process::builder().daemon(true).target(|| {}).daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// True from `start` until the child exits (Python's `is_alive`; reaps it once it
    /// has exited). False before `start`. A forkserver child's exit status comes from
    /// the server moments after it exits: until it has, this says true (it never waits
    /// for it, as `join` does).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// assert!(!p.is_alive()); // not started
    /// p.start()?;
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// p.join();
    /// assert!(!p.is_alive());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.child.as_ref().is_some_and(|c| c.is_alive())
    }

    /// Waits for the child to exit and returns its [`exitcode`](Self::exitcode).
    ///
    /// `None` after the child has ended too, when its exit status was lost: SIGCHLD set
    /// to ignored (the kernel then reaps children itself), a `waitpid(-1)` elsewhere in
    /// the program that reaped it, or the forkserver that ran it died first.
    /// [`is_alive`](Self::is_alive) is false then.
    ///
    /// # Panics
    /// If the process was not started (Python raises too).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = mp_process::Process::new(|| std::process::exit(3));
    /// p.start()?;
    /// assert_eq!(p.join(), Some(3));
    /// assert_eq!(p.join(), Some(3)); // again: at once, the same code
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) -> Option<i32> {
        self.started("join").wait(None).flatten()
    }

    /// Waits at most `timeout`. Returns the exit code, or `None` with the child still
    /// running (check [`is_alive`](Self::is_alive)), as Python's `join(timeout)`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let t = Instant::now();
    /// assert_eq!(p.join_timeout(Duration::from_millis(50)), None);
    /// assert!(t.elapsed() >= Duration::from_millis(50));
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// assert_eq!(p.join(), Some(-9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the process was not started.
    pub fn join_timeout(&self, timeout: Duration) -> Option<i32> {
        self.started("join_timeout")
            .wait(ipc_core::deadline_after(timeout))
            .flatten()
    }

    /// `None` while the child runs (or before start); then `Some(code)`: `0`, `n` after
    /// `std::process::exit(n)`, `1` after a panic, `-N` after signal `N`. Still `None`
    /// once it ended if its status was lost (see [`join`](Self::join)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// assert_eq!(p.exitcode(), None); // not started
    /// p.start()?;
    /// assert_eq!(p.exitcode(), None); // running
    /// p.terminate()?;
    /// p.join();
    /// assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| c.poll(false).flatten())
    }

    /// Sends SIGTERM (Python's `terminate`). Nothing happens if the child already exited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// assert!(p.terminate().is_err()); // not started
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join(), Some(-libc::SIGTERM));
    /// p.terminate()?; // it has exited: nothing happens
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL (Python's `kill`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// p.kill()?;
    /// assert_eq!(p.join(), Some(-libc::SIGKILL));
    /// p.kill()?; // it has exited: nothing happens
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        match &self.child {
            Some(c) => c.signal(sig),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the process was not started",
            )),
        }
    }

    /// A descriptor that becomes readable when the child exits (its pidfd): give it to
    /// `poll`/`epoll` to wait for many children at once. `None` before `start`.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| {});
    /// p.start()?;
    /// let fd = p.sentinel().unwrap().as_raw_fd();
    /// let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    /// // SAFETY: one valid pollfd.
    /// assert_eq!(unsafe { libc::poll(&mut pfd, 1, -1) }, 1);
    /// assert_eq!(p.join(), Some(0));
    /// # Ok::<(), mp_process::StartError>(())
    /// ```
    pub fn sentinel(&self) -> Option<BorrowedFd<'_>> {
        self.child.as_ref().map(|c| c.sentinel())
    }

    /// Releases the process's resources (its pidfd). Hands the process back if it is
    /// still running (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mp_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    /// p.start()?;
    /// let err = p.close().unwrap_err(); // still running
    /// let p = err.into_inner();
    /// p.terminate()?;
    /// p.join();
    /// p.close()?; // it has ended: its pidfd is released
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<(), CloseError> {
        if self.is_alive() {
            return Err(CloseError(Box::new(self)));
        }
        if let Some(c) = &self.child {
            state::unregister(c);
        }
        Ok(())
    }
}
