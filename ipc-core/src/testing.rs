//! Small real-process helpers shared by this workspace's tests, benches and examples:
//! fork a child that leaves with `_exit`, reap it, kill it, a watchdog, and a lock that
//! keeps one test binary's forks away from the handles of its other tests.
//!
//! This is not the process API: that is the `mp-process` crate. These helpers exist so
//! that `ipc-core` can be tested and measured across real processes without depending on
//! the crates built on top of it.
//!
//! ```
//! use ipc_core::testing::{fork, reap};
//!
//! let child = fork(|| 7);
//! assert_eq!(reap(child), Ok(7));
//! ```

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Aborts the whole program if it is still alive `secs` seconds after [`watchdog`] was
/// called and this guard was not dropped. Forked children die with it (parent-death signal).
#[derive(Debug)]
pub struct Watchdog(#[allow(dead_code)] Sender<()>);

/// Starts a [`Watchdog`] for the test or program section called `name`.
///
/// # Examples
///
/// ```
/// let dog = ipc_core::testing::watchdog("doc example", 60); // aborts if still here in 60 s
/// let child = ipc_core::testing::fork(|| 0); // something that could hang
/// assert_eq!(ipc_core::testing::reap(child), Ok(0));
/// drop(dog); // done in time: the watchdog stands down
/// ```
pub fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = channel::<()>();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: {name} still running after {secs} s; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

/// Holds the lock that runs, one at a time, the tests of this test binary that take it.
///
/// A test that forks must take it, and so must a test that asserts that no handle of a
/// role is open anywhere (a `Closed` from a non-blocking call). The test harness runs tests
/// on threads of one process, and a fork copies every open descriptor of that process: a
/// child forked by one test keeps the handles of the others open until it exits, as any
/// forked child must. Their `try_pop` then answers `Empty` where it should say `Closed`,
/// and two such tests can wait on each other's children for good.
///
/// ```
/// let _serial = ipc_core::testing::serial();
/// let child = ipc_core::testing::fork(|| 0);
/// assert_eq!(ipc_core::testing::reap(child), Ok(0));
/// ```
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A test that failed while holding it poisons it; the next test still runs.
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Forks a child that runs `f` and exits with its return value (101 if it panics),
/// through `_exit`: the child never returns into the caller's stack. The child receives
/// SIGKILL if the forking thread dies first, so a failed test leaves no orphans.
///
/// Fork from a multi-threaded parent is safe here only because the child touches nothing
/// another thread may have locked: keep `f` to ring operations and plain computation.
///
/// # Examples
///
/// ```
/// use ipc_core::testing::{fork, reap};
///
/// let ok = fork(|| 3);
/// let panicked = fork(|| panic!("a panic in the child"));
/// assert_eq!(reap(ok), Ok(3));
/// assert_eq!(reap(panicked), Ok(101));
/// ```
pub fn fork(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs `f` and leaves with `_exit`; glibc keeps malloc usable in the
    // child after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: leaves at once, without running the parent's exit handlers or unwinding.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for `pid`: `Ok(exit code)`, or `Err(signal)` if a signal ended it.
///
/// # Examples
///
/// ```
/// use ipc_core::testing::{fork, kill, reap};
///
/// assert_eq!(reap(fork(|| 0)), Ok(0));
/// let sleeper = fork(|| loop {
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// });
/// kill(sleeper);
/// assert_eq!(reap(sleeper), Err(9)); // SIGKILL
/// ```
pub fn reap(pid: libc::pid_t) -> Result<i32, i32> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EINTR),
            "waitpid({pid}) failed: {e}"
        );
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(libc::WTERMSIG(status))
    }
}

/// Sends SIGKILL to `pid`; false if it could not be sent (no such process, or not ours).
///
/// # Examples
///
/// ```
/// use ipc_core::testing::{fork, kill, reap};
///
/// let sleeper = fork(|| loop {
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// });
/// assert!(kill(sleeper));
/// assert_eq!(reap(sleeper), Err(9));
/// assert!(!kill(sleeper)); // reaped: nothing left to signal
/// ```
pub fn kill(pid: libc::pid_t) -> bool {
    // SAFETY: sends a signal; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGKILL) == 0 }
}

/// The state letter of process `pid` in `/proc/PID/stat` (`R` running, `S` sleeping, `Z`
/// exited but not reaped, ...), or `None` once it is gone (reaped) or unreadable.
///
/// # Examples
///
/// ```
/// use ipc_core::testing::{fork, proc_state, reap};
///
/// assert!(matches!(proc_state(std::process::id() as i32), Some('R' | 'S')));
/// let child = fork(|| 0);
/// while proc_state(child) != Some('Z') {
///     std::thread::yield_now(); // exited, not yet reaped
/// }
/// assert_eq!(reap(child), Ok(0));
/// assert_eq!(proc_state(child), None);
/// ```
pub fn proc_state(pid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in parentheses may hold anything: the state follows its last `)`.
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Sets this process's soft limit on open descriptors to the lowest number free now, so
/// that no descriptor can be opened; returns the limit it replaced, for
/// [`set_fd_limit`] to put back. Process-wide: for a test binary of its own, or a child.
///
/// # Examples
///
/// ```
/// use ipc_core::testing::{fork, limit_fds_to_those_open, reap, set_fd_limit};
///
/// let child = fork(|| {
///     let old = limit_fds_to_those_open();
///     let refused = std::fs::File::open("/dev/null").is_err();
///     set_fd_limit(old);
///     let allowed = std::fs::File::open("/dev/null").is_ok();
///     i32::from(!(refused && allowed))
/// });
/// assert_eq!(reap(child), Ok(0));
/// ```
pub fn limit_fds_to_those_open() -> libc::rlim_t {
    // SAFETY: dup of stdin, closed at once: its number is the lowest one free.
    let fd = unsafe { libc::dup(0) };
    assert!(fd >= 0, "dup(0): {}", std::io::Error::last_os_error());
    // SAFETY: the descriptor just duplicated, owned here.
    unsafe { libc::close(fd) };
    set_fd_limit(fd as libc::rlim_t)
}

/// Sets this process's soft limit on open descriptors to `n`; returns the old limit.
///
/// # Examples
///
/// ```
/// let old = ipc_core::testing::set_fd_limit(4096);
/// assert_eq!(ipc_core::testing::set_fd_limit(old), 4096);
/// ```
pub fn set_fd_limit(n: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a local rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// A small xorshift generator: repeatable randomness for tests, not quality.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::testing::Rng;
    ///
    /// let (mut a, mut b) = (Rng(42), Rng(42));
    /// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same numbers
    /// assert_ne!(a.next_u64(), a.next_u64());
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = ipc_core::testing::Rng(7);
    /// assert!((0..100).all(|_| rng.below(6) < 6));
    /// assert_eq!(rng.below(0), 0);
    /// ```
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A generator seeded from `SEED` in the environment, or from the clock; the seed is
    /// printed so that a failure can be replayed.
    ///
    /// # Examples
    ///
    /// ```
    /// // Prints "doc example: SEED=..."; run again with that SEED set to replay.
    /// let mut rng = ipc_core::testing::Rng::from_env("doc example");
    /// assert!(rng.below(10) < 10);
    /// ```
    pub fn from_env(name: &str) -> Rng {
        let seed = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                t.map_or(1, |d| d.as_nanos() as u64) | 1
            });
        eprintln!("{name}: SEED={seed}");
        Rng(seed)
    }
}
