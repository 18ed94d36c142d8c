//! Every queue and connection reaches another process in three ways: inherited across
//! fork, attached from a handle by a spawned program (`mp-queue-peer`, and this test
//! binary re-executed as a spawned `Process` is), and opened by name from an unrelated
//! program (`mp-queue-peer`, a separate binary).

mod common;

use std::time::Duration;

use common::{fork, job, reap, run_peer, serial, watchdog, Job};
use mp_queue::{pipe, Connection, GetError, JoinableQueue, Queue};

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "peer failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn queue_by_name_to_an_unrelated_program() {
    let _serial = serial();
    let _w = watchdog("queue_by_name", 60);
    let q: Queue<Job> = Queue::builder().create_named("mpq-test").unwrap();
    let name = q.name().unwrap().to_string();
    for i in 0..50 {
        q.put(common::job(i, 100)).unwrap();
    }
    let out = run_peer(&["get-name", &name, "50"], &[]);
    assert_eq!(stdout(&out), format!("sum {}", (0..50).sum::<u64>()));
    // And the other way: the peer puts, we get.
    let out = run_peer(&["put-name", &name, "20"], &[]);
    stdout(&out);
    for i in 0..20 {
        assert_eq!(q.get().unwrap(), job(i, 100));
    }
    // The creator unlinks the name when it drops the queue.
    drop(q);
    assert!(Queue::<Job>::open(&name).is_err());
}

#[test]
fn queue_by_handle_to_a_spawned_program() {
    let _serial = serial();
    let _w = watchdog("queue_by_handle", 60);
    let q: Queue<Job> = Queue::new().unwrap();
    for i in 0..30 {
        q.put(common::job(i, 100)).unwrap();
    }
    let h = q.handle();
    let out = run_peer(&["get-handle", &h.to_string(), "30"], &[h.fd]);
    assert_eq!(stdout(&out), format!("sum {}", (0..30).sum::<u64>()));
    assert!(q.empty());
}

/// Spawn as a `Process` does it: this test binary re-executes itself to run only
/// `re_executed_child`, which attaches to a queue and a pipe from the handles in its
/// environment (their fds kept across exec), takes the queue's items and answers their
/// sum over the pipe.
#[test]
fn queue_and_pipe_by_handle_to_this_binary_re_executed() {
    let _serial = serial();
    let _w = watchdog("re_executed", 60);
    let q: Queue<Job> = Queue::new().unwrap();
    for i in 0..10 {
        q.put(job(i, 100)).unwrap();
    }
    let (mine, theirs) = pipe::<String>(true).unwrap();
    let (qh, ph) = (q.handle(), theirs.handle());
    let env = [(CHILD_QUEUE, qh.to_string()), (CHILD_PIPE, ph.to_string())];
    let fds = [qh.fd, ph.send.unwrap().fd, ph.recv.unwrap().fd];
    let out = common::run_self("re_executed_child", &env, &fds);
    assert!(
        out.status.success(),
        "child failed: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child test did not run:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        mine.recv().unwrap(),
        format!("sum {}", (0..10).sum::<u64>())
    );
    assert!(q.empty());
}

const CHILD_QUEUE: &str = "MPQ_TEST_CHILD_QUEUE";
const CHILD_PIPE: &str = "MPQ_TEST_CHILD_PIPE";

/// The child half of `queue_and_pipe_by_handle_to_this_binary_re_executed`; does nothing
/// when run by hand.
#[test]
#[ignore = "run by queue_and_pipe_by_handle_to_this_binary_re_executed"]
fn re_executed_child() {
    let _serial = serial();
    let (Ok(qh), Ok(ph)) = (std::env::var(CHILD_QUEUE), std::env::var(CHILD_PIPE)) else {
        return;
    };
    let _w = watchdog("re_executed_child", 30); // a re-executed child outlives its parent
    let q = Queue::<Job>::from_handle(qh.parse().unwrap()).unwrap();
    let conn = Connection::<String>::from_handle(ph.parse().unwrap()).unwrap();
    q.close(); // this child only reads
    let sum: u64 = (0..10).map(|_| q.get().unwrap().id).sum();
    assert_eq!(q.try_get(), Err(GetError::Empty));
    conn.send(format!("sum {sum}")).unwrap();
}

#[test]
fn joinable_queue_by_handle() {
    let _serial = serial();
    let _w = watchdog("joinable_by_handle", 60);
    let q: JoinableQueue<Job> = JoinableQueue::new().unwrap();
    for i in 0..25 {
        q.put(job(i, 10)).unwrap();
    }
    let h = q.handle();
    let out = run_peer(&["joinable-handle", &h.to_string()], &[h.fd]);
    assert_eq!(stdout(&out), "done 25");
    assert!(q.join_timeout(Duration::from_secs(5)));
}

#[test]
fn pipe_across_fork_both_directions() {
    let _serial = serial();
    let _w = watchdog("pipe_fork", 30);
    let (a, b) = pipe::<String>(true).unwrap();
    // The child holds copies of both ends (fork copies everything, as with Python and
    // Unix pipes), so it cannot wait for Closed on `b` while its copy of `a` is open:
    // it echoes a known number of messages.
    let child = fork(|| {
        for _ in 0..100 {
            let s = b.recv().unwrap();
            b.send(format!("{s} and back")).unwrap();
        }
        0
    });
    drop(b);
    for i in 0..100 {
        a.send(format!("msg {i}")).unwrap();
        assert_eq!(a.recv().unwrap(), format!("msg {i} and back"));
    }
    assert_eq!(reap(child), Ok(0));
    // The child exited: its copies of both ends closed with it.
    assert_eq!(a.recv(), Err(GetError::Closed));
}

#[test]
fn simplex_pipe_has_one_direction() {
    let _serial = serial();
    let _w = watchdog("simplex_pipe_has_one_direction", 60);
    let (r, w) = pipe::<u32>(false).unwrap();
    w.send(1).unwrap();
    assert_eq!(r.recv().unwrap(), 1);
    assert!(
        matches!(r.send(2), Err(mp_queue::PutError::Failed { value: 2, .. })),
        "the first end of a simplex pipe only receives"
    );
    assert!(
        matches!(w.try_recv(), Err(GetError::Failed(_))),
        "the second end only sends (not Empty: there is nothing to receive on)"
    );
    // recv there fails at once, so poll does not wait, even with no timeout.
    assert!(w.poll(None));
}

#[test]
fn pipe_by_name_to_an_unrelated_program() {
    let _serial = serial();
    let _w = watchdog("pipe_by_name", 60);
    let conn = Connection::<String>::create_named("mpq-pipe", true).unwrap();
    let name = conn.peer_name().unwrap();
    let peer = std::thread::spawn(move || run_peer(&["echo-pipe", &name], &[]));
    for i in 0..20 {
        conn.send(format!("hello {i}")).unwrap();
        assert_eq!(conn.recv().unwrap(), format!("hello {i} and back"));
    }
    drop(conn);
    assert_eq!(stdout(&peer.join().unwrap()), "peer closed");
}

#[test]
fn pipe_by_handle_to_a_spawned_program() {
    let _serial = serial();
    let _w = watchdog("pipe_by_handle", 60);
    let (mine, theirs) = pipe::<String>(true).unwrap();
    let h = theirs.handle();
    let fds = [h.send.unwrap().fd, h.recv.unwrap().fd];
    let arg = h.to_string();
    let peer = std::thread::spawn(move || {
        let out = run_peer(&["echo-handle", &arg], &fds);
        drop(theirs); // keep our copy of the peer's end open until the peer has attached
        out
    });
    mine.send("one".into()).unwrap();
    assert_eq!(mine.recv().unwrap(), "one and back");
    drop(mine);
    assert_eq!(stdout(&peer.join().unwrap()), "peer closed");
}

#[test]
fn pipe_peer_gone_is_closed_not_a_hang() {
    let _serial = serial();
    let _w = watchdog("pipe_peer_gone", 30);
    let (a, b) = pipe::<u8>(true).unwrap();
    let child = fork(|| {
        b.send(9).unwrap();
        0 // exits holding `a` and `b` copies: both close with the process
    });
    drop(b);
    assert_eq!(reap(child), Ok(0));
    assert_eq!(a.recv().unwrap(), 9);
    assert_eq!(a.recv(), Err(GetError::Closed));
    assert!(matches!(a.send(1), Err(mp_queue::PutError::Closed(1))));
    // poll reports "recv would not block" for a closed pipe, as Python's poll on EOF.
    assert!(a.poll(Some(Duration::from_millis(10))));
}

/// `poll` leaves the message in shared memory, as Python's `poll` leaves it in the OS
/// pipe: a child forked after a successful `poll` shares that one message with its
/// parent, and exactly one of them receives it.
#[test]
fn a_message_polled_before_a_fork_is_received_once() {
    let _serial = serial();
    let _w = watchdog("polled_before_fork", 30);
    let (a, b) = pipe::<u32>(true).unwrap();
    b.send(7).unwrap();
    assert!(a.poll(Some(Duration::from_secs(5))));
    let child = fork(|| match a.recv_timeout(Duration::from_millis(200)) {
        Ok(7) => 1,
        Err(GetError::Timeout) => 0,
        _ => 2,
    });
    let in_child = reap(child).unwrap();
    assert!(in_child < 2, "the child received something else");
    let in_parent = i32::from(a.try_recv().is_ok());
    assert_eq!(
        in_child + in_parent,
        1,
        "the message was received {} times (child {in_child}, parent {in_parent})",
        in_child + in_parent
    );
}

/// Python's advice for pipes across fork, close the ends you do not use, works through a
/// shared reference: the child closes the parent's end it inherited, and when the parent
/// closes its end the child, still alive, gets Closed after the last message. Without
/// the child's close it would wait for good (the child's copy would keep the end open).
#[test]
fn a_child_that_closes_the_inherited_end_sees_the_parent_close() {
    let _serial = serial();
    let _w = watchdog("pipe_child_closes_inherited", 30);
    let (parent_end, child_end) = pipe::<u32>(true).unwrap();
    let child = fork(|| {
        parent_end.close();
        assert!(matches!(
            parent_end.send(1),
            Err(mp_queue::PutError::Closed(1))
        ));
        assert_eq!(child_end.recv(), Ok(1));
        assert_eq!(child_end.recv(), Ok(2));
        assert_eq!(child_end.recv(), Err(GetError::Closed));
        // And the other way: the parent's end is closed, so a send fails.
        std::thread::sleep(Duration::from_millis(
            u64::from(ipc_core::ring::PRESENCE_TTL_MS) * 2,
        ));
        i32::from(!matches!(
            child_end.send(3),
            Err(mp_queue::PutError::Closed(3))
        ))
    });
    child_end.close();
    parent_end.send(1).unwrap();
    parent_end.send(2).unwrap();
    parent_end.close();
    assert_eq!(
        parent_end.recv(),
        Err(GetError::Closed),
        "a closed end receives nothing"
    );
    assert_eq!(reap(child), Ok(0));
}

/// A peer that exits without dropping its end (a forked child leaves with `_exit`) closes
/// nothing, yet a send notices it is gone within the presence cache's lifetime.
#[test]
fn send_after_the_peer_exited_without_closing_is_closed() {
    let _serial = serial();
    let _w = watchdog("pipe_peer_exit", 30);
    let (a, b) = pipe::<u8>(true).unwrap();
    let (go_rx, go_tx) = pipe::<u8>(false).unwrap(); // (receiving end, sending end)
    let child = fork(|| {
        let _ = go_rx.recv(); // hold `b` until the parent has sent once
        0
    });
    drop(b);
    a.send(1).unwrap(); // the child still holds `b`: present
    go_tx.send(0).unwrap();
    assert_eq!(reap(child), Ok(0));
    std::thread::sleep(Duration::from_millis(
        u64::from(ipc_core::ring::PRESENCE_TTL_MS) * 2,
    ));
    assert!(matches!(a.send(2), Err(mp_queue::PutError::Closed(2))));
}

#[test]
fn poll_on_one_thread_does_not_hold_up_recv_timeout_on_another() {
    let _serial = serial();
    let _w = watchdog("poll_and_recv_timeout", 30);
    let (a, b) = pipe::<u32>(true).unwrap();
    std::thread::scope(|s| {
        // The poller waits with no limit: if recv_timeout waited for it, nothing would
        // ever send, and the watchdog would fail the test.
        let poller = s.spawn(|| a.poll(None));
        std::thread::sleep(Duration::from_millis(20)); // the poller is now waiting
        let t = std::time::Instant::now();
        assert_eq!(
            a.recv_timeout(Duration::from_millis(50)),
            Err(GetError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        b.send(7).unwrap();
        assert!(poller.join().unwrap());
    });
    assert_eq!(a.recv().unwrap(), 7); // the message poll saw is the next one received
}

#[test]
fn connection_try_and_timeout_variants() {
    let _serial = serial();
    let _w = watchdog("connection_try_and_timeout_variants", 60);
    let (a, b) = mp_queue::pipe_with_capacity::<u64>(true, 4096).unwrap();
    assert_eq!(a.try_recv_bytes(), Err(GetError::Empty));
    assert_eq!(
        a.recv_bytes_timeout(Duration::from_millis(10)),
        Err(GetError::Timeout)
    );
    let mut sent = 0;
    while b.try_send(sent).is_ok() {
        sent += 1;
    }
    assert!(matches!(b.try_send(99), Err(mp_queue::PutError::Full(99))));
    assert!(sent > 0);
    assert_eq!(a.recv().unwrap(), 0);
}

#[test]
fn simple_byte_and_joinable_queues_reach_other_programs_by_name_and_handle() {
    let _serial = serial();
    let _w = watchdog("other_queues", 60);
    // SimpleQueue: by name, then by handle.
    let q: mp_queue::SimpleQueue<String> =
        mp_queue::SimpleQueue::create_named("mpq-simple").unwrap();
    for s in ["a", "b", "c"] {
        q.put(s.into()).unwrap();
    }
    let name = format!("name={}", q.name().unwrap());
    assert_eq!(stdout(&run_peer(&["simple", &name, "2"], &[])), "a,b");
    let h = q.handle();
    let arg = format!("handle={h}");
    assert_eq!(stdout(&run_peer(&["simple", &arg, "1"], &[h.fd])), "c");

    // ByteQueue: by name, then by handle.
    let opts = Queue::builder().capacity(1 << 16);
    let bq = mp_queue::ByteQueue::with(opts, Some("mpq-bytes")).unwrap();
    for f in ["frame one", "", "three"] {
        bq.put(f.as_bytes()).unwrap();
    }
    let name = format!("name={}", bq.name().unwrap());
    assert_eq!(stdout(&run_peer(&["bytes", &name, "2"], &[])), "frame one,");
    let h = bq.handle();
    let arg = format!("handle={h}");
    assert_eq!(stdout(&run_peer(&["bytes", &arg, "1"], &[h.fd])), "three");

    // JoinableQueue by name: the peer settles every task; join returns.
    let jq: JoinableQueue<Job> =
        JoinableQueue::with(Queue::builder(), Some("mpq-joinable")).unwrap();
    for i in 0..10 {
        jq.put(job(i, 10)).unwrap();
    }
    stdout(&run_peer(&["joinable-name", jq.name().unwrap(), "10"], &[]));
    assert!(jq.join_timeout(Duration::from_secs(10)));
}

#[test]
fn byte_queue_across_fork_both_ways() {
    let _serial = serial();
    let _w = watchdog("byte_queue_fork", 30);
    let to_child = mp_queue::ByteQueue::new().unwrap();
    let to_parent = mp_queue::ByteQueue::new().unwrap();
    let child = fork(|| {
        for _ in 0..100 {
            let Ok(mut m) = to_child.get() else { return 1 };
            m.reverse();
            if to_parent.put(&m).is_err() {
                return 2;
            }
        }
        0
    });
    for i in 0..100u32 {
        let msg: Vec<u8> = (0..i).map(|k| (k * 3 + i) as u8).collect();
        to_child.put(&msg).unwrap();
        let mut back = to_parent.get().unwrap();
        back.reverse();
        assert_eq!(back, msg, "message {i}");
    }
    assert_eq!(reap(child), Ok(0));
}

/// A peer that fails to open (one half is not a pipe ring) takes no role on the other
/// half: the waiting creator does not see a peer that came and went (`Closed`).
#[test]
fn a_failed_open_does_not_close_the_creators_end() {
    let _serial = serial();
    let _w = watchdog("failed_open", 30);
    let creator = Connection::<u32>::create_named("mpq-failed-open", true).unwrap();
    let not_a_pipe: Queue<u32> = Queue::builder().create_named("mpq-failed-open-q").unwrap();
    let name = creator.peer_name().unwrap();
    let (send, _) = name.split_once('|').unwrap();
    let wrong = format!("{send}|{}", not_a_pipe.name().unwrap());
    assert!(Connection::<u32>::open(&wrong).is_err());
    assert_eq!(
        creator.recv_timeout(Duration::from_millis(100)),
        Err(GetError::Timeout),
        "no peer ever came: the creator waits on"
    );
    // Nor do malformed names take a role, or pass for a working end.
    for bad in ["|", &format!("{send}|{send}")] {
        assert!(Connection::<u32>::open(bad).is_err(), "{bad:?}");
    }
    let peer = Connection::<u32>::open(&name).unwrap();
    peer.send(7).unwrap();
    assert_eq!(creator.recv().unwrap(), 7);
}

/// A closed end cannot be passed on: its handle names neither ring, and attaching to it
/// is an error, not an end that quietly has no roles.
#[test]
fn a_closed_end_cannot_be_passed_by_handle() {
    let _serial = serial();
    let (a, b) = pipe::<u32>(true).unwrap();
    b.close();
    let h = b.handle();
    assert!(h.send.is_none() && h.recv.is_none());
    assert!(Connection::<u32>::from_handle(h).is_err());
    assert!(Connection::<u32>::from_handle(";".parse().unwrap()).is_err());
    assert_eq!(
        a.recv_timeout(Duration::from_millis(50)),
        Err(GetError::Closed)
    );
}
