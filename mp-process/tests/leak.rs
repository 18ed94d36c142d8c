//! 500 processes per start method, started and joined: no zombie, no leaked descriptor,
//! nothing left in `active_children`. Alone in its binary so that no other test's
//! processes or descriptors are counted.

use std::time::Duration;

use ipc_core::testing::watchdog;
use mp_process::{active_children, Process, StartMethod};

mp_process::hook!();

const ROUNDS: usize = 500;

fn nothing(_: ()) {}

fn open_fds() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    v.sort();
    v
}

/// True if some child of ours has exited and was not reaped (a zombie). Does not reap.
fn zombie_exists() -> bool {
    // SAFETY: siginfo_t is a plain C struct; all-zero is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid out-pointer.
    let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) };
    // SAFETY: si_pid is valid to read for a SIGCHLD siginfo filled by waitid (0 if none).
    rc == 0 && unsafe { info.si_pid() } != 0
}

fn one(m: StartMethod, wait: bool) {
    let mut p = Process::builder()
        .start_method(m)
        .entry(nothing, &())
        .unwrap();
    p.start().unwrap();
    if wait {
        assert_eq!(p.join(), Some(0));
    } else {
        while p.is_alive() {
            std::thread::sleep(Duration::from_micros(200));
        }
        assert_eq!(p.exitcode(), Some(0));
    }
}

#[test]
fn five_hundred_processes_per_method_leave_no_zombie_and_no_fd() {
    let _w = watchdog("leak", 300);
    // Warm up: the forkserver and its connection are started once, on first use.
    for m in StartMethod::ALL {
        one(m, true);
    }
    let before = open_fds();
    for m in StartMethod::ALL {
        for i in 0..ROUNDS {
            // Half joined, half polled with is_alive: both paths reap.
            one(m, i % 2 == 0);
        }
        assert!(!zombie_exists(), "{m}: a zombie is left");
        assert_eq!(open_fds(), before, "{m}: descriptors leaked");
        assert!(active_children().is_empty(), "{m}: children still listed");
    }
    // The check itself can fail: a child nobody reaps is a zombie it sees.
    let mut p = Process::new(|| {});
    p.start().unwrap();
    let fd = p.sentinel().unwrap();
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 30_000) }, 1);
    assert!(zombie_exists(), "an unreaped child must be seen");
    p.join();
    assert!(!zombie_exists());
    mp_process::shutdown();
}
