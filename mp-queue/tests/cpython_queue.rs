//! Behaviour ported from CPython's `Lib/test/_test_multiprocessing.py`, class
//! `_TestQueue` (test_put, test_get, test_fork, test_qsize, test_task_done, test_closed_queue,
//! test_timeout) and `_TestSimpleQueue`, run across real forked processes.
//! Where we differ from Python on purpose (Closed after the writers are gone, tasks of a
//! dead worker settled), the test says so.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fork, reap, serial, watchdog};
use mp_queue::{GetError, JoinableQueue, PutError, Queue, SimpleQueue};

const TIMEOUT: Duration = Duration::from_millis(100);

/// test_put: maxsize 6; put, put_nowait, put(block, timeout) fill it; then every form of
/// put on a full queue fails with Full (immediately) or Timeout (after its duration).
#[test]
fn put() {
    let _serial = serial();
    let _w = watchdog("put", 30);
    let q: Queue<u32> = Queue::builder().maxsize(6).create().unwrap();
    assert!(q.empty() && !q.full());
    q.put(1).unwrap();
    q.try_put(2).unwrap();
    q.put_timeout(3, TIMEOUT).unwrap();
    q.put(4).unwrap();
    q.try_put(5).unwrap();
    q.put_timeout(6, TIMEOUT).unwrap();
    assert_eq!(q.qsize(), 6);
    assert!(!q.empty() && q.full());
    assert_eq!(q.try_put(7), Err(PutError::Full(7)));
    let t = Instant::now();
    assert_eq!(q.put_timeout(7, TIMEOUT), Err(PutError::Timeout(7)));
    assert!(t.elapsed() >= TIMEOUT, "put_timeout returned early");

    // A child takes the six items after 50 ms; the parent's put blocks until then.
    let rx = q.clone();
    let forked = Instant::now();
    let child = fork(move || {
        std::thread::sleep(Duration::from_millis(50));
        let got: Vec<u32> = (0..6).map(|_| rx.get().unwrap()).collect();
        i32::from(got != [1, 2, 3, 4, 5, 6])
    });
    q.put(7).unwrap();
    assert!(
        forked.elapsed() >= Duration::from_millis(50),
        "put returned before the child took anything"
    );
    assert_eq!(reap(child), Ok(0));
    assert_eq!(q.get().unwrap(), 7);
}

/// test_get: a child puts four items after a delay; get, get_nowait, get(block, timeout)
/// take them; on the empty queue every form of get fails with Empty or Timeout.
#[test]
fn get() {
    let _serial = serial();
    let _w = watchdog("get", 30);
    let q: Queue<u32> = Queue::new().unwrap();
    let tx = q.clone();
    let child = fork(move || {
        std::thread::sleep(Duration::from_millis(50));
        for i in 1..=4 {
            tx.put(i).unwrap();
        }
        0
    });
    assert_eq!(q.get().unwrap(), 1); // blocks until the child puts
    assert_eq!(reap(child), Ok(0));
    assert_eq!(q.get_timeout(TIMEOUT).unwrap(), 2);
    assert_eq!(q.try_get().unwrap(), 3);
    assert_eq!(q.get().unwrap(), 4);
    assert!(q.empty());
    assert_eq!(q.try_get(), Err(GetError::Empty));
    let t = Instant::now();
    assert_eq!(q.get_timeout(TIMEOUT), Err(GetError::Timeout));
    assert!(t.elapsed() >= TIMEOUT, "get_timeout returned early");
}

/// test_fork: a queue made before fork carries items both ways; ten items put by the
/// child arrive in order.
#[test]
fn fork_both_ways() {
    let _serial = serial();
    let _w = watchdog("fork_both_ways", 30);
    let to_child: Queue<String> = Queue::new().unwrap();
    let to_parent: Queue<String> = Queue::new().unwrap();
    let child = fork(|| {
        let hello = to_child.get().unwrap();
        for i in 0..10 {
            to_parent.put(format!("{hello} {i}")).unwrap();
        }
        0
    });
    to_child.put("hello".into()).unwrap();
    for i in 0..10 {
        assert_eq!(to_parent.get().unwrap(), format!("hello {i}"));
    }
    assert_eq!(reap(child), Ok(0));
}

/// test_qsize: exact across processes, at once (no feeder thread to wait for).
#[test]
fn qsize_is_exact_across_processes() {
    let _serial = serial();
    let _w = watchdog("qsize", 30);
    let q: Queue<u64> = Queue::new().unwrap();
    assert_eq!(q.qsize(), 0);
    let child = fork(|| {
        q.put(5).unwrap();
        i32::from(q.qsize() != 1) // counted the moment put returns
    });
    assert_eq!(reap(child), Ok(0));
    assert_eq!(q.qsize(), 1); // and the child never had to flush before exiting
    q.put(6).unwrap();
    assert_eq!(q.qsize(), 2);
    q.get().unwrap();
    assert_eq!(q.qsize(), 1);
}

/// test_task_done: four worker processes take 10 items each and call task_done; join
/// returns when all are done. A fifth call too many is an error (Python's ValueError).
#[test]
fn task_done_and_join() {
    let _serial = serial();
    let _w = watchdog("task_done", 30);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    assert!(q.task_done().is_err(), "task_done before any get must fail");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            fork(|| {
                for _ in 0..10 {
                    q.get().unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                    q.task_done().unwrap();
                }
                0
            })
        })
        .collect();
    for i in 0..40 {
        q.put(i).unwrap();
    }
    q.join();
    assert_eq!(q.unfinished(), 0);
    for w in workers {
        assert_eq!(reap(w), Ok(0));
    }
    assert!(q.task_done().is_err());
}

/// Beyond Python: a worker killed (SIGKILL) while it holds a task loses that task, and
/// `join` settles it instead of waiting for good. The other tasks are done by a worker
/// that lives; `join` waits for them.
#[test]
fn join_settles_the_tasks_of_a_killed_worker() {
    let _serial = serial();
    let _w = watchdog("join_killed_worker", 30);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    let (took_rx, took_tx) = mp_queue::pipe::<u32>(false).unwrap();
    for i in 0..5 {
        q.put(i).unwrap();
    }
    let doomed = fork(|| {
        let v = q.get().unwrap(); // held, never settled
        took_tx.send(v).unwrap();
        std::thread::sleep(Duration::from_secs(60));
        0
    });
    took_rx.recv().unwrap();
    common::kill(doomed);
    assert_eq!(reap(doomed), Err(libc::SIGKILL));
    let worker = fork(|| {
        for _ in 0..4 {
            q.get().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            q.task_done().unwrap();
        }
        0
    });
    q.join();
    assert_eq!(q.unfinished(), 0);
    assert_eq!(reap(worker), Ok(0));
    assert!(
        q.task_done().is_err(),
        "the lost task is settled, not left to settle"
    );
}

/// Beyond Python: a producer killed while its `put` waits for room (the task already
/// counted, its record not yet written) does not leave `join` waiting for a task that
/// never comes, and settling it takes nothing from a live worker's held task: that
/// worker's `task_done` still succeeds. A producer still alive and waiting is waited for.
#[test]
fn join_settles_the_put_of_a_producer_killed_while_it_waited() {
    let _serial = serial();
    let _w = watchdog("join_killed_producer", 30);
    let q: JoinableQueue<u32> = JoinableQueue::with(Queue::builder().maxsize(1), None).unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1); // held here through the kill and the scans
    q.put(2).unwrap(); // full now
    let doomed = fork(|| {
        let _ = q.put(3); // waits for room until killed
        0
    });
    while q.unfinished() < 3 {
        std::thread::sleep(Duration::from_millis(1)); // the child's put is counted
    }
    assert!(
        !q.join_timeout(Duration::from_millis(150)),
        "the producer lives"
    );
    common::kill(doomed);
    assert_eq!(reap(doomed), Err(libc::SIGKILL));
    // A scan for the dead settles the killed put; tasks 1 and 2 are still open.
    assert!(!q.join_timeout(Duration::from_millis(150)));
    assert_eq!(q.unfinished(), 2, "the killed put is settled, and only it");
    q.task_done().expect("the held task 1 is still settleable");
    assert_eq!(q.get().unwrap(), 2);
    q.task_done().unwrap();
    q.join(); // every task settled: returns at once (the watchdog fails a hang)
    assert_eq!(
        q.try_get(),
        Err(GetError::Empty),
        "nothing was half-written"
    );
    assert!(q.task_done().is_err(), "one call too many is still refused");
}

/// Beyond Python: a worker killed after it took a record and counted it as its own, but
/// before the queue-wide count of taken tasks (a few instructions in `get`). `join`
/// settles its task and takes it out of that count, which never held it: a live worker's
/// `task_done` must still succeed, its own count proving the task it holds.
#[test]
fn a_worker_killed_between_its_two_counts_does_not_cost_a_live_workers_task_done() {
    let _serial = serial();
    let _w = watchdog("killed_between_counts", 30);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put_many([1, 2]).unwrap();
    assert_eq!(q.get().unwrap(), 1); // held here: counted in both
    let doomed = fork(|| {
        // What `get` does up to the death point: take the record, count it as this
        // process's own, and die before counting it in the queue-wide word.
        let ring = ipc_core::ring::Ring::from_handle(q.handle()).unwrap();
        let taken = ring.consumer().unwrap().try_pop().is_ok();
        ring.process_word().unwrap().fetch_add(1, Ordering::SeqCst);
        i32::from(!taken)
    });
    assert_eq!(reap(doomed), Ok(0));
    assert!(
        !q.join_timeout(Duration::from_millis(150)),
        "task 1 is open"
    );
    assert_eq!(q.unfinished(), 1, "the dead worker's task 2 is settled");
    q.task_done().expect("this process still holds task 1");
    q.join(); // returns at once (the watchdog fails a hang)
    assert!(q.task_done().is_err(), "one call too many is still refused");
}

/// A `task_done` made in another process than the one that took the item settles the
/// task (Python allows that); the taker's own `task_done` after it finds no task open and
/// is refused, as Python's ValueError.
#[test]
fn task_done_from_another_process_leaves_the_takers_call_one_too_many() {
    let _serial = serial();
    let _w = watchdog("task_done_elsewhere", 30);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1); // taken here
    let other = fork(|| i32::from(q.task_done().is_err()));
    assert_eq!(reap(other), Ok(0));
    assert_eq!(q.unfinished(), 0);
    assert!(q.task_done().is_err(), "no task is open");
    q.join();
}

/// A worker that holds a task while alive is waited for, however long: `join` settles
/// only the tasks of processes that are gone. (A minimum duration, not a timing.)
#[test]
fn join_waits_for_a_live_holder() {
    let _serial = serial();
    let _w = watchdog("join_live_holder", 30);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    let started = Instant::now();
    let worker = fork(|| {
        q.get().unwrap();
        std::thread::sleep(Duration::from_millis(300)); // several of join's 50 ms looks
        q.task_done().unwrap();
        0
    });
    q.join();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "join returned early"
    );
    assert_eq!(reap(worker), Ok(0));
}

/// join_timeout on unfinished work returns false after at least the timeout.
#[test]
fn join_timeout_waits_its_duration() {
    let _serial = serial();
    let _w = watchdog("join_timeout", 30);
    let q: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    let t = Instant::now();
    assert!(!q.join_timeout(TIMEOUT));
    assert!(t.elapsed() >= TIMEOUT);
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(q.join_timeout(TIMEOUT));
}

/// test_closed_queue: put on a closed handle fails. Beyond Python: once every writer has
/// closed or exited, get drains and then reports Closed instead of hanging (cpython #87971).
#[test]
fn closed_queue() {
    let _serial = serial();
    let _w = watchdog("closed_queue", 30);
    let q: Queue<u32> = Queue::new().unwrap();
    let producers: Vec<_> = (0..3)
        .map(|p| {
            fork(|| {
                for i in 0..100 {
                    q.put(p * 1000 + i).unwrap();
                }
                0 // the child exits: its handles close with it
            })
        })
        .collect();
    q.close();
    assert!(matches!(q.put(1), Err(PutError::Closed(1))));
    let mut got = Vec::new();
    loop {
        match q.get() {
            Ok(v) => got.push(v),
            Err(GetError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    for p in producers {
        assert_eq!(reap(p), Ok(0));
    }
    got.sort();
    let want: Vec<u32> = (0..3)
        .flat_map(|p| (0..100).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(got, want);
}

/// Beyond Python, the usual shape of a pipeline: the parent writes, forked children read.
/// Each child closes the writer it inherited (it only reads); once the parent closes, the
/// children drain the queue between them, each then sees Closed, and every item arrives
/// exactly once.
#[test]
fn readers_that_close_their_inherited_writer_see_closed() {
    let _serial = serial();
    let _w = watchdog("readers_close", 30);
    let q: Queue<u32> = Queue::new().unwrap();
    let sums: Queue<u64> = Queue::new().unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            fork(|| {
                q.close();
                let (mut n, mut sum) = (0u64, 0u64);
                loop {
                    match q.get() {
                        Ok(v) => (n, sum) = (n + 1, sum + u64::from(v)),
                        Err(GetError::Closed) => break,
                        Err(_) => return 1,
                    }
                }
                sums.put(n << 32 | sum).unwrap();
                0
            })
        })
        .collect();
    for i in 0..1000 {
        q.put(i).unwrap();
    }
    q.close();
    for r in readers {
        assert_eq!(reap(r), Ok(0));
    }
    let (a, b) = (sums.get().unwrap(), sums.get().unwrap());
    assert_eq!((a >> 32) + (b >> 32), 1000, "items taken");
    assert_eq!(
        (a & 0xffff_ffff) + (b & 0xffff_ffff),
        999 * 1000 / 2,
        "sum of items"
    );
}

/// A writer killed by SIGKILL counts as gone: the reader drains and gets Closed.
#[test]
fn killed_writer_closes_the_queue() {
    let _serial = serial();
    let _w = watchdog("killed_writer", 30);
    let q: Queue<u32> = Queue::new().unwrap();
    let child = fork(|| {
        q.put(1).unwrap();
        std::thread::sleep(Duration::from_secs(60));
        0
    });
    q.close();
    assert_eq!(q.get().unwrap(), 1);
    common::kill(child);
    assert_eq!(reap(child), Err(libc::SIGKILL));
    assert_eq!(q.get(), Err(GetError::Closed));
}

/// Beyond Python, whose docs warn a queue is "likely to become corrupted" if a process is
/// killed while using it: writers killed (SIGKILL) at random moments, often in the middle
/// of serializing a rich value straight into the queue. The reader gets every value a
/// writer finished, intact and in each writer's order, and then Closed: no record half
/// written, no hang. The seed is printed; `SEED=...` replays it.
#[test]
fn writers_killed_in_the_middle_of_a_put_corrupt_nothing() {
    let _serial = serial();
    let _w = watchdog("killed_mid_put", 120);
    let mut rng = common::Rng::from_env("killed_mid_put");
    for round in 0..20 {
        let q: Queue<common::Job> = Queue::builder().capacity(256 * 1024).create().unwrap();
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                fork(|| {
                    for i in 0.. {
                        let id = w << 32 | i;
                        q.put(common::job(id, (i as usize * 131) % 9000)).unwrap();
                    }
                    0
                })
            })
            .collect();
        q.close(); // the parent only reads
        let mut next = [0u64; 2];
        let check = |next: &mut [u64; 2], job: common::Job| {
            let (w, i) = ((job.id >> 32) as usize, job.id & 0xffff_ffff);
            assert_eq!(i, next[w], "round {round}: writer {w} out of order");
            assert_eq!(job, common::job(job.id, (i as usize * 131) % 9000));
            next[w] += 1;
        };
        // Both writers are under way before the kills: they are mid-stream, not starting.
        while next.contains(&0) {
            check(&mut next, q.get().unwrap());
        }
        std::thread::sleep(Duration::from_micros(rng.below(2000)));
        for &w in &writers {
            common::kill(w);
        }
        loop {
            match q.get() {
                Ok(job) => check(&mut next, job),
                Err(GetError::Closed) => break,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        for w in writers {
            assert_eq!(reap(w), Err(libc::SIGKILL));
        }
    }
}

/// _TestSimpleQueue: empty, put, get between processes.
#[test]
fn simple_queue() {
    let _serial = serial();
    let _w = watchdog("simple_queue", 30);
    let q: SimpleQueue<String> = SimpleQueue::new().unwrap();
    assert!(q.empty());
    let child = fork(|| {
        q.put("from child".into()).unwrap();
        0
    });
    assert_eq!(q.get().unwrap(), "from child");
    assert_eq!(reap(child), Ok(0));
    assert!(q.empty());
}
