//! Behaviour ported from CPython's `Lib/test/_test_multiprocessing.py`, classes `_TestPool`
//! (test_apply, test_map, test_starmap, test_map_chunksize, test_async, test_async_timeout,
//! test_imap, test_imap_unordered, test_make_pool, test_terminate, test_empty_iterable,
//! test_context/close-then-submit) and `_TestPoolWorkerLifetime`
//! (test_pool_worker_lifetime), plus initializer and callbacks, across real processes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use ipc_core::testing::watchdog;
use mp_pool::{Pool, PoolError, TaskError};

mp_process::hook!();

fn sqr(x: u64) -> u64 {
    x * x
}

fn slow_sqr(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(x.min(300)));
    x * x
}

fn mul(a: u64, b: u64) -> u64 {
    a * b
}

#[test]
fn apply_and_map() {
    let _w = watchdog("apply_and_map", 60);
    let pool = Pool::new(4).unwrap();
    assert_eq!(pool.apply(sqr, 5), Ok(25));
    let want: Vec<_> = (0..10u64).map(|x| Ok(x * x)).collect();
    assert_eq!(pool.map(sqr, 0..10, None).unwrap(), want);
    let want: Vec<_> = (0..100u64).map(|x| Ok(x * x)).collect();
    assert_eq!(pool.map(sqr, 0..100, Some(100)).unwrap(), want);
    assert_eq!(pool.map(sqr, 0..100, Some(7)).unwrap(), want);
}

#[test]
fn starmap() {
    let _w = watchdog("starmap", 60);
    let pool = Pool::new(2).unwrap();
    let pairs: Vec<(u64, u64)> = (0..10).map(|i| (i, i + 1)).collect();
    let want: Vec<_> = pairs.iter().map(|&(a, b)| Ok(a * b)).collect();
    assert_eq!(pool.starmap(mul, pairs.clone(), None).unwrap(), want);
    assert_eq!(pool.starmap_async(mul, pairs, Some(3)).unwrap().get(), want);
    let r = pool.starmap3(
        |a: u8, b: String, c: bool| format!("{a}{b}{c}"),
        vec![(1, "x".to_string(), true)],
        None,
    );
    assert_eq!(r.unwrap(), [Ok("1xtrue".to_string())]);
}

#[test]
fn apply_async_and_timeouts() {
    let _w = watchdog("async", 60);
    let pool = Pool::new(2).unwrap();
    let r = pool.apply_async(slow_sqr, 7).unwrap();
    assert_eq!(r.get(), Ok(49));
    // get with a timeout shorter than the task: Timeout after at least the timeout,
    // and the result still arrives later.
    let r = pool.apply_async(slow_sqr, 250).unwrap();
    let t = Instant::now();
    assert_eq!(
        r.get_timeout(Duration::from_millis(50)),
        Err(TaskError::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.successful(), Err(mp_pool::NotReady));
    assert!(!r.wait_timeout(Duration::from_millis(10)));
    r.wait();
    assert!(r.ready());
    assert_eq!(r.successful(), Ok(true));
    assert_eq!(r.get_timeout(Duration::from_secs(5)), Ok(62500));
}

#[test]
fn imap_in_order_and_unordered_complete() {
    let _w = watchdog("imap", 60);
    let pool = Pool::new(3).unwrap();
    let it = pool.imap(sqr, 0..10, None).unwrap();
    assert_eq!(
        it.map(Result::unwrap).collect::<Vec<_>>(),
        (0..10u64).map(sqr).collect::<Vec<_>>()
    );
    let it = pool.imap(sqr, 0..1000, Some(100)).unwrap();
    assert_eq!(
        it.map(Result::unwrap).collect::<Vec<_>>(),
        (0..1000u64).map(sqr).collect::<Vec<_>>()
    );
    let mut got: Vec<u64> = pool
        .imap_unordered(sqr, 0..1000, Some(53))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    got.sort();
    assert_eq!(got, (0..1000u64).map(sqr).collect::<Vec<_>>());
    // Unordered really yields as tasks finish: the short task comes before the long one.
    let first = pool
        .imap_unordered(slow_sqr, vec![300, 1], Some(1))
        .unwrap()
        .next();
    assert_eq!(first, Some(Ok(1)));
}

#[test]
fn make_pool_checks_its_size() {
    let _w = watchdog("make_pool_checks_its_size", 60);
    assert!(matches!(Pool::new(0), Err(PoolError::Start(_))));
    let pool = Pool::builder().build().unwrap(); // default: cpu_count workers
    assert_eq!(pool.processes(), mp_process::cpu_count());
}

#[test]
fn terminate_while_busy() {
    let _w = watchdog("terminate", 60);
    let pool = Pool::new(2).unwrap();
    let r = pool
        .map_async(slow_sqr, vec![100u64; 1000], Some(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // Terminating does not wait for the 1000 tasks (100 s of work): if it did, the
    // watchdog (60 s) would fail the test. No maximum time is asserted.
    pool.terminate();
    let out = r.get();
    assert!(out.contains(&Err(TaskError::Terminated)));
    assert!(matches!(
        pool.apply_async(sqr, 1),
        Err(PoolError::NotRunning)
    ));
}

/// Terminating under an `imap_unordered` that has yielded some results fails the rest,
/// each once: the items already taken are not failed again.
#[test]
fn terminate_under_imap_unordered_yields_each_item_once() {
    let _w = watchdog("terminate_imap", 60);
    let pool = Pool::new(2).unwrap();
    let mut it = pool
        .imap_unordered(slow_sqr, vec![20u64; 40], Some(1))
        .unwrap();
    assert_eq!(it.next(), Some(Ok(400)));
    assert_eq!(it.next(), Some(Ok(400)));
    pool.terminate();
    assert_eq!(it.progress(), (40, 40), "an item counted done twice");
    let rest: Vec<_> = it.collect();
    assert_eq!(rest.len(), 38, "{rest:?}");
    assert!(rest.contains(&Err(TaskError::Terminated)));
}

#[test]
fn empty_iterable() {
    let _w = watchdog("empty_iterable", 60);
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.map(sqr, Vec::<u64>::new(), None).unwrap(), []);
    assert_eq!(pool.imap(sqr, Vec::<u64>::new(), None).unwrap().count(), 0);
}

#[test]
fn close_then_submit_is_an_error_and_join_waits() {
    let _w = watchdog("close", 60);
    let mut pool = Pool::new(2).unwrap();
    assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
    let r = pool.map_async(slow_sqr, vec![20u64; 10], Some(1)).unwrap();
    pool.close();
    assert!(matches!(
        pool.apply_async(sqr, 1),
        Err(PoolError::NotRunning)
    ));
    pool.join().unwrap(); // waits for the submitted work
    assert!(r.ready());
    assert!(r.get().iter().all(|x| *x == Ok(400)));
}

/// Python's `close`: once the submitted work is done, the workers exit, without `join`.
fn exited(pid: i32) -> bool {
    // A zombie (exited, not yet reaped: `join` reaps) or gone.
    matches!(ipc_core::testing::proc_state(pid), Some('Z') | None)
}

#[test]
fn close_lets_the_workers_exit_once_the_work_is_done() {
    let _w = watchdog("close_exits", 60);
    let mut pool = Pool::new(2).unwrap();
    let pids = pool.worker_pids();
    let r = pool.map_async(slow_sqr, vec![20u64; 4], Some(1)).unwrap();
    pool.close();
    // No deadline but the watchdog: a slow machine only makes this wait longer.
    while !pids.iter().all(|&p| exited(p)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(r.ready() && r.get().iter().all(|x| *x == Ok(400)));
    pool.join().unwrap();
}

#[test]
fn join_timeout_waits_at_least_its_timeout_then_reports_the_exit() {
    let _w = watchdog("join_timeout", 60);
    let mut pool = Pool::new(2).unwrap();
    assert!(matches!(
        pool.join_timeout(Duration::ZERO),
        Err(PoolError::StillRunning)
    ));
    let r = pool.map_async(slow_sqr, vec![300u64; 2], Some(1)).unwrap();
    pool.close();
    let t = Instant::now();
    assert!(!pool.join_timeout(Duration::from_millis(50)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(50), "returned early");
    assert!(pool.join_timeout(Duration::from_secs(30)).unwrap());
    assert!(r.ready());
    assert!(pool.worker_pids().is_empty(), "joined workers are gone");
    assert!(pool.join_timeout(Duration::ZERO).unwrap(), "joining again");
}

#[test]
fn maxtasksperchild_recycles_workers() {
    let _w = watchdog("maxtasks", 60);
    let pool = Pool::builder()
        .processes(3)
        .maxtasksperchild(10)
        .build()
        .unwrap();
    let before = pool.worker_pids();
    let want: Vec<_> = (0..100u64).map(|x| Ok(x * x)).collect();
    assert_eq!(pool.map(sqr, 0..100, Some(1)).unwrap(), want);
    // 100 tasks at 10 per worker: every original worker is replaced (the watchdog is
    // the only time limit: a slow machine only makes this wait longer).
    while pool.worker_pids().iter().any(|p| before.contains(p)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = pool.worker_pids();
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "before {before:?}, after {after:?}"
    );
}

static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

fn init() {
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
}

fn init_runs(_: u32) -> u32 {
    INIT_RUNS.load(Ordering::SeqCst)
}

#[test]
fn initializer_runs_once_per_worker() {
    let _w = watchdog("initializer", 60);
    let pool = Pool::builder()
        .processes(2)
        .initializer(init)
        .build()
        .unwrap();
    let runs = pool.map(init_runs, 0..50, Some(1)).unwrap();
    assert!(runs.iter().all(|r| *r == Ok(1)), "{runs:?}");
    assert_eq!(
        INIT_RUNS.load(Ordering::SeqCst),
        0,
        "the initializer ran in the parent"
    );
}

/// Beyond Python (whose result thread dies, and the pool with it): a callback that
/// panics is reported on stderr, its result is still delivered, and the pool goes on.
#[test]
fn a_panicking_callback_does_not_stop_the_pool() {
    let _w = watchdog("callback_panic", 60);
    let mut pool = Pool::new(1).unwrap();
    let r = pool
        .apply_async_with(sqr, 3, |_| panic!("callback trouble"), |_| ())
        .unwrap();
    assert_eq!(r.get_timeout(Duration::from_secs(30)), Ok(9));
    let r = pool
        .apply_async_with(boom, 3, |_| (), |_| panic!("error callback trouble"))
        .unwrap();
    assert!(matches!(
        r.get_timeout(Duration::from_secs(30)),
        Err(TaskError::Panicked(_))
    ));
    assert_eq!(pool.apply(sqr, 4), Ok(16));
    pool.close();
    pool.join().unwrap();
}

/// A callback that holds the last handle on the pool drops it in the supervisor thread:
/// the drop must not wait for that very thread.
#[test]
fn the_last_pool_handle_dropped_in_a_callback_does_not_deadlock() {
    let _w = watchdog("drop_in_callback", 60);
    let pool = std::sync::Arc::new(Pool::new(1).unwrap());
    let (tx, rx) = channel();
    let mine = std::sync::Arc::clone(&pool);
    let r = pool
        .apply_async_with(
            slow_sqr,
            100,
            move |_| {
                drop(mine); // the last handle, by the time the task is done
                tx.send(()).unwrap();
            },
            |_| (),
        )
        .unwrap();
    drop(r);
    drop(pool);
    rx.recv().unwrap(); // hung here before: the drop joined its own thread
}

fn boom(x: u32) -> u32 {
    if x == 3 {
        panic!("three is right out");
    }
    x
}

#[test]
fn callbacks_and_panics() {
    let _w = watchdog("callbacks", 60);
    let pool = Pool::new(1).unwrap();
    let pid = pool.worker_pids();
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    pool.apply_async_with(boom, 2, move |v| tx.send(Ok(*v)).unwrap(), |_| ())
        .unwrap();
    assert_eq!(rx.recv().unwrap(), Ok(2));
    let r = pool
        .apply_async_with(boom, 3, |_| (), move |e| tx2.send(Err(e.clone())).unwrap())
        .unwrap();
    let e = rx.recv().unwrap().unwrap_err();
    assert!(
        matches!(&e, TaskError::Panicked(m) if m.contains("three is right out")),
        "{e}"
    );
    r.wait(); // callbacks run just before the result is marked ready, as in Python
    assert_eq!(r.successful(), Ok(false));
    assert!(r.get_timeout(Duration::from_secs(30)).is_err()); // takes the error out
    assert_eq!(r.successful(), Ok(false), "still, once the error is taken");
    // The panic failed only its task; the worker is the same and keeps serving.
    assert_eq!(
        pool.map(boom, 0..6, Some(1))
            .unwrap()
            .iter()
            .filter(|r| r.is_err())
            .count(),
        1
    );
    assert_eq!(pool.worker_pids(), pid);
}
