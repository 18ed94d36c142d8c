//! 100,000 tiny tasks: every result correct and in order, for `map` and `imap`; and the
//! same work under the spawn and forkserver start methods.

use ipc_core::testing::watchdog;
use mp_pool::Pool;
use mp_process::StartMethod;

mp_process::hook!();

fn inc(x: u64) -> u64 {
    x + 1
}

#[test]
fn map_and_imap_of_100k_tiny_tasks() {
    let _w = watchdog("100k", 300);
    let pool = Pool::new(2).unwrap();
    let out = pool.map(inc, 0..100_000, None).unwrap();
    assert_eq!(out.len(), 100_000);
    assert!(out.iter().enumerate().all(|(i, r)| *r == Ok(i as u64 + 1)));
    let mut n = 0u64;
    for r in pool.imap(inc, 0..100_000u64, None).unwrap() {
        assert_eq!(r, Ok(n + 1));
        n += 1;
    }
    assert_eq!(n, 100_000);
}

#[test]
fn every_start_method_runs_tasks() {
    let _w = watchdog("start_methods", 120);
    for m in StartMethod::ALL {
        let mut pool = Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let out = pool.map(inc, 0..1000, Some(10)).unwrap();
        assert!(
            out.iter().enumerate().all(|(i, r)| *r == Ok(i as u64 + 1)),
            "{m:?}"
        );
        assert_eq!(
            pool.apply(|s: String| s.to_uppercase(), "spawned".into()),
            Ok("SPAWNED".into())
        );
        pool.close();
        pool.join().unwrap();
    }
}
