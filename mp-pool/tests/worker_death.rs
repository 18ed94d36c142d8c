//! Beyond Python: a worker killed mid-map fails only the task it held; everything else
//! arrives; the pool replaces the worker and goes on; nothing is left as a zombie.

use std::time::Duration;

use ipc_core::testing::{kill, watchdog, Rng};
use mp_pool::{Pool, TaskError};

mp_process::hook!();

fn double_slowly(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(300));
    x * 2
}

fn reaped(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: a valid out-pointer; WNOHANG never blocks.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

#[test]
fn kill_a_worker_mid_map_100_rounds() {
    let _w = watchdog("kill_worker", 240);
    let mut rng = Rng::from_env("kill_worker");
    let mut pool = Pool::new(2).unwrap();
    let mut seen = Vec::new();
    let mut failed_total = 0;
    for round in 0..100 {
        let pids = pool.worker_pids();
        seen.extend(&pids);
        let victim = pids[rng.below(pids.len() as u64) as usize];
        let delay = Duration::from_micros(rng.below(20_000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            kill(victim);
        });
        let out = pool.map(double_slowly, 0..100, Some(1)).unwrap();
        killer.join().unwrap();
        let mut failed = 0;
        for (i, r) in out.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, 2 * i as u64, "round {round}: wrong result"),
                Err(TaskError::WorkerDied { pid, exitcode }) => {
                    assert_eq!((*pid, *exitcode), (victim, -libc::SIGKILL), "round {round}");
                    failed += 1;
                }
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        // Chunks of one item: the victim held at most the one it was running.
        assert!(failed <= 1, "round {round}: {failed} tasks failed");
        failed_total += failed;
        // The pool goes on: the next map is whole.
        let again = pool.map(double_slowly, 0..10, Some(1)).unwrap();
        assert!(
            again
                .iter()
                .enumerate()
                .all(|(i, r)| *r == Ok(2 * i as u64)),
            "round {round}: {again:?}"
        );
    }
    assert!(
        failed_total > 0,
        "no kill ever landed mid-task: the test did not test"
    );
    seen.extend(pool.worker_pids());
    pool.close();
    pool.join().unwrap();
    for pid in seen {
        assert!(reaped(pid), "worker {pid} was not reaped");
    }
}
