//! A forkserver that dies (killed from outside) must not hang `join` on the children it
//! started, and the next forkserver start brings up a new server. Alone in its binary:
//! it finds the server as the one child of this thread that is not a `Process`.

use std::time::Duration;

use ipc_core::testing::watchdog;
use mp_process::{Process, StartMethod};

mp_process::hook!();

fn sleeps(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn children_of_this_thread() -> Vec<i32> {
    std::fs::read_to_string("/proc/thread-self/children")
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn a_dead_forkserver_is_replaced_and_join_does_not_hang() {
    let _w = watchdog("forkserver death", 60);
    let fs = |f: fn(u64), a: u64| {
        let mut p = Process::builder()
            .start_method(StartMethod::Forkserver)
            .entry(f, &a)
            .unwrap();
        p.start().unwrap();
        p
    };
    let p = fs(sleeps, 60);
    let pid = p.pid().unwrap();
    // The forkserver child is the server's child, not ours: our one child is the server.
    let ours = children_of_this_thread();
    assert!(!ours.contains(&pid));
    assert_eq!(ours.len(), 1, "expected only the forkserver: {ours:?}");
    // Our own unreaped child: the pid is still the server's.
    assert!(
        ipc_core::testing::kill(ours[0]),
        "the forkserver took the signal"
    );
    // A non-daemon child outlives its server; end it, and its status is lost with it.
    assert!(p.is_alive());
    p.kill().unwrap();
    assert_eq!(p.join(), None);
    assert!(!p.is_alive());
    let mut q = Process::builder()
        .start_method(StartMethod::Forkserver)
        .entry(exit_with, &3)
        .unwrap();
    q.start().unwrap();
    assert_eq!(q.join(), Some(3));
    mp_process::shutdown();
    // The killed server was reaped by the relaunch or by shutdown: no child remains.
    let left = children_of_this_thread();
    assert!(
        left.iter().all(|&c| c != ours[0]),
        "old server not reaped: {left:?}"
    );
}
