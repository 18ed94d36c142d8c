//! A worker whose exit status is lost (here: SIGCHLD ignored, so the kernel reaps
//! children itself and `waitpid` answers ECHILD) is still seen to be dead: its task fails
//! with `WorkerDied` instead of waiting for good, and a replacement serves the next one.
//! Its own test binary: ignoring SIGCHLD is process-wide.

use std::time::Duration;

use ipc_core::testing::watchdog;
use mp_pool::{Pool, TaskError};

mp_process::hook!();

fn die(_: u32) -> u32 {
    // SAFETY: kills this worker process, as a crash would.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL is not caught")
}

fn triple(x: u32) -> u32 {
    x * 3
}

#[test]
fn a_worker_whose_status_is_lost_counts_as_dead() {
    let _w = watchdog("lost_status", 60);
    // SAFETY: sets a signal disposition; no handler runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut pool = Pool::new(1).unwrap();
    let dead = pool.worker_pids();
    let r = pool.apply_async(die, 0).unwrap();
    match r.get_timeout(Duration::from_secs(30)) {
        Err(TaskError::WorkerDied { pid, .. }) => assert_eq!(vec![pid], dead),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(pool.apply(triple, 5), Ok(15), "a replacement serves");
    assert_ne!(pool.worker_pids(), dead);
    pool.close();
    pool.join().unwrap();
}
