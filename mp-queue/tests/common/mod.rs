//! Shared by the mp-queue tests and the `mp-queue-peer` program: the message type both
//! sides agree on, and the real-process helpers.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

pub use ipc_core::testing::{fork, kill, reap, serial, watchdog, Rng};
mod job;
pub use job::*;

/// Path of the separate peer program (built by cargo for these tests).
pub fn peer_exe() -> &'static str {
    env!("CARGO_BIN_EXE_mp-queue-peer")
}

/// Runs the peer program with `args`, keeping `fds` open across exec.
pub fn run_peer(args: &[&str], fds: &[i32]) -> std::process::Output {
    run_keeping(std::process::Command::new(peer_exe()).args(args), fds)
}

/// Spawns as a `Process` would: re-executes this test binary to run only the ignored
/// test `name`, with `env` set and `fds` kept open across exec.
pub fn run_self(name: &str, env: &[(&str, String)], fds: &[i32]) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
        name,
    ]);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    run_keeping(&mut cmd, fds)
}

/// Runs `cmd` to its end, keeping `fds` open across exec.
fn run_keeping(cmd: &mut std::process::Command, fds: &[i32]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let fds = fds.to_vec();
    // SAFETY: between fork and exec only fcntl runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    cmd.output().expect("cannot run the child program")
}
