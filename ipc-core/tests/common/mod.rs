//! Real-process helpers for the integration tests: fork a child that leaves with `_exit`,
//! reap it, and a watchdog so that no test can hang CI.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

/// Aborts the whole test binary (and, by parent-death signal, its children) if the test
/// is still running after `secs`.
pub struct Watchdog(std::sync::mpsc::Sender<()>);

pub fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: test {name} still running after {secs} s; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

/// Forks a child that runs `f` and exits with its return value (101 on panic). The child
/// gets SIGKILL if the forking thread dies, so a failed test leaves no orphans.
pub fn fork(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `f` and leaves with `_exit`; glibc keeps malloc usable
    // after fork, and the children never touch locks other threads might hold (no prints).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: prctl with an integer argument.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: leaves the child at once, without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for `pid`: `Ok(exit code)` or `Err(signal)`.
pub fn reap(pid: libc::pid_t) -> Result<i32, i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EINTR));
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(libc::WTERMSIG(status))
    }
}

pub fn kill(pid: libc::pid_t) {
    // SAFETY: sends a signal; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// A small xorshift generator: tests need repeatable randomness, not quality.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A seed from the clock, printed so a failure can be replayed with `SEED=...`.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1
    });
    eprintln!("{name}: SEED={seed}");
    seed
}
