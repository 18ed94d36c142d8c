//! A replacement worker that cannot start (here: no file descriptor left for its task
//! ring) is retried, and while the pool has no worker at all, the work waiting for one
//! fails with a clear error instead of waiting for good. Its own test binary: the
//! descriptor limit is process-wide.

use std::time::Duration;

use ipc_core::testing::{kill, limit_fds_to_those_open, set_fd_limit, watchdog};
use mp_pool::{Pool, TaskError};

mp_process::hook!();

fn triple(x: u32) -> u32 {
    x * 3
}

#[test]
fn a_failed_restart_is_retried_and_waiting_work_fails_meanwhile() {
    let _w = watchdog("start_failure", 60);
    let mut pool = Pool::new(1).unwrap();
    assert_eq!(pool.apply(triple, 1), Ok(3));
    let old = limit_fds_to_those_open();
    let dead = pool.worker_pids()[0];
    kill(dead);
    // No worker, and none can start: the task fails, it does not wait for good.
    let r = pool.apply_async(triple, 2).unwrap();
    match r.get_timeout(Duration::from_secs(30)) {
        Err(TaskError::Failed(msg)) => assert!(msg.contains("no worker"), "{msg}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    set_fd_limit(old);
    // Retried: a worker starts once descriptors are back.
    assert_eq!(pool.apply(triple, 4), Ok(12));
    assert_ne!(pool.worker_pids(), vec![dead]);
    pool.close();
    pool.join().unwrap();
}
