//! A parent that ignores SIGCHLD (as daemons often do) passes that disposition on through
//! exec, to the forkserver too; the kernel then reaped the server's children itself, and
//! the server reported every one as exit code 0, a SIGKILL included. The server now takes
//! the default disposition for itself and gives its children the one it inherited, as
//! Python's forkserver does. Alone in its binary: it changes a process-wide disposition.

use std::time::Duration;

use ipc_core::testing::watchdog;
use mp_process::{Process, StartMethod};

mp_process::hook!();

/// Exits with 7 if this process ignores SIGCHLD (the parent's disposition, restored),
/// 8 if not.
fn exit_with_disposition(_: ()) {
    // SAFETY: reads the disposition (a null new action changes nothing).
    let ignored = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_IGN
    };
    std::process::exit(if ignored { 7 } else { 8 });
}

fn sleeps(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[test]
fn forkserver_children_report_their_status_when_the_parent_ignores_sigchld() {
    let _w = watchdog("sigchld ignored", 60);
    // SAFETY: changes this test process's disposition; nothing else runs in this binary.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let start = |p: &mut Process| p.start().unwrap();
    let mut code = Process::builder()
        .start_method(StartMethod::Forkserver)
        .entry(exit_with_disposition, &())
        .unwrap();
    start(&mut code);
    assert_eq!(code.join(), Some(7), "exit code, and SIGCHLD still ignored");
    let mut killed = Process::builder()
        .start_method(StartMethod::Forkserver)
        .entry(sleeps, &60)
        .unwrap();
    start(&mut killed);
    killed.kill().unwrap();
    assert_eq!(killed.join(), Some(-libc::SIGKILL));
}
