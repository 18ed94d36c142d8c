//! Queues, pipes, locked values and locks reach spawned and forkserver children as handles:
//! the handle string travels in the entry's arguments, the fd by `pass_fd`.

use std::time::Duration;

use ipc_core::sync::{Lock, Value};
use ipc_core::testing::watchdog;
use mp_process::{Process, StartMethod};
use mp_queue::{pipe, Connection, GetError, Queue};

mp_process::hook!();

fn put_greeting(h: String) {
    let q: Queue<String> = Queue::from_handle(h.parse().unwrap()).unwrap();
    q.put(format!(
        "hello from {}",
        mp_process::current_process().name()
    ))
    .unwrap();
}

fn count_to_1000(h: String) {
    let v: Value<u64> = Value::from_handle(h.parse().unwrap()).unwrap();
    for _ in 0..1000 {
        let g = v.lock().unwrap();
        g.set(g.get() + 1);
    }
}

fn double_back(h: String) {
    let c: Connection<u32> = Connection::from_handle(h.parse().unwrap()).unwrap();
    let x = c.recv().unwrap();
    c.send(x * 2).unwrap();
}

fn release_lock(h: String) {
    let l = Lock::from_handle(h.parse().unwrap()).unwrap();
    l.release().unwrap(); // as Python: any process may release a Lock
}

/// Attaches only after a while: by then the parent has dropped its own copy.
fn late_sender(h: String) {
    std::thread::sleep(Duration::from_millis(300));
    let c: Connection<u32> = Connection::from_handle(h.parse().unwrap()).unwrap();
    c.send(7).unwrap();
}

fn late_writer(h: String) {
    std::thread::sleep(Duration::from_millis(300));
    let q: Queue<u32> = Queue::from_handle(h.parse().unwrap()).unwrap();
    q.put(7).unwrap();
}

/// Forks a child of its own before it attaches the queue it was given, puts, lets the
/// queue go, and waits to be terminated.
fn fork_then_put_then_wait(h: String) {
    let mut f = Process::builder()
        .daemon(true)
        .target(|| std::thread::sleep(Duration::from_secs(60)));
    f.start().unwrap();
    let q: Queue<u32> = Queue::from_handle(h.parse().unwrap()).unwrap();
    q.put(1).unwrap();
    drop(q);
    std::thread::sleep(Duration::from_secs(60));
}

fn child(m: StartMethod, entry: fn(String), handle: String, fds: &[i32]) -> Process {
    let mut b = Process::builder().start_method(m).name("handle-child");
    for &fd in fds {
        b = b.pass_fd(fd);
    }
    let mut p = b.entry(entry, &handle).unwrap();
    p.start().unwrap();
    p
}

#[test]
fn queue_value_pipe_and_lock_reach_spawned_and_forkserver_children() {
    let _w = watchdog("handles_to_children", 120);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let q: Queue<String> = Queue::new().unwrap();
        let h = q.handle();
        let p = child(m, put_greeting, h.to_string(), &[h.fd]);
        assert_eq!(
            q.get_timeout(Duration::from_secs(30)).unwrap(),
            "hello from handle-child",
            "{m:?}"
        );
        assert_eq!(p.join(), Some(0));

        let v = Value::new(0u64).unwrap();
        let h = v.handle();
        let kids: Vec<_> = (0..2)
            .map(|_| child(m, count_to_1000, h.to_string(), &[h.fd]))
            .collect();
        for k in kids {
            assert_eq!(k.join(), Some(0));
        }
        assert_eq!(v.get(), 2000, "{m:?}");

        let (mine, theirs) = pipe::<u32>(true).unwrap();
        let h = theirs.handle();
        let p = child(
            m,
            double_back,
            h.to_string(),
            &[h.send.unwrap().fd, h.recv.unwrap().fd],
        );
        mine.send(21).unwrap();
        assert_eq!(
            mine.recv_timeout(Duration::from_secs(30)).unwrap(),
            42,
            "{m:?}"
        );
        assert_eq!(p.join(), Some(0));

        let l = Lock::new().unwrap();
        let g = l.acquire().unwrap();
        std::mem::forget(g); // held by this process, released by the child
        let h = l.handle();
        let p = child(m, release_lock, h.to_string(), &[h.fd]);
        assert_eq!(p.join(), Some(0));
        assert!(
            l.try_acquire().is_ok(),
            "{m:?}: the child's release did not reach us"
        );
    }
}

#[test]
fn a_forked_child_uses_an_inherited_queue() {
    let _w = watchdog("fork_queue", 60);
    let q: Queue<u64> = Queue::new().unwrap();
    let tx = q.clone();
    let mut p = Process::new(move || {
        for i in 0..100 {
            tx.put(i).unwrap();
        }
    });
    p.start().unwrap();
    assert_eq!((0..100).map(|_| q.get().unwrap()).sum::<u64>(), 4950);
    assert_eq!(p.join(), Some(0));
}

/// Python's idiom: start the child, then close the parent's copy of what it was given.
/// The child counts as present from the start (its hook holds the rings it inherited),
/// not only once its code attaches: the parent sees its message, then `Closed` when it
/// exits, never `Closed` first.
#[test]
fn a_handle_dropped_right_after_start_is_held_by_the_child() {
    let _w = watchdog("dropped_after_start", 120);
    let wait = Duration::from_secs(30);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let (mine, theirs) = pipe::<u32>(true).unwrap();
        let h = theirs.handle();
        let fds = [h.send.unwrap().fd, h.recv.unwrap().fd];
        let p = child(m, late_sender, h.to_string(), &fds);
        drop(theirs);
        assert_eq!(mine.recv_timeout(wait), Ok(7), "{m:?}");
        assert_eq!(p.join(), Some(0));
        assert_eq!(mine.recv_timeout(wait), Err(GetError::Closed), "{m:?}");

        let q: Queue<u32> = Queue::new().unwrap();
        let h = q.handle();
        let p = child(m, late_writer, h.to_string(), &[h.fd]);
        q.close(); // this process only reads
        assert_eq!(q.get_timeout(wait), Ok(7), "{m:?}");
        assert_eq!(p.join(), Some(0));
        assert_eq!(q.get_timeout(wait), Err(GetError::Closed), "{m:?}");
    }
}

/// What the child was started with is its own to hold: a child it forks before attaching
/// does not keep the queue present once the child has let it go.
#[test]
fn a_grandchild_does_not_hold_what_its_parent_was_started_with() {
    let _w = watchdog("grandchild_does_not_hold", 60);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let q: Queue<u32> = Queue::new().unwrap();
        let h = q.handle();
        let p = child(m, fork_then_put_then_wait, h.to_string(), &[h.fd]);
        q.close(); // this process only reads
        assert_eq!(q.get_timeout(Duration::from_secs(30)), Ok(1), "{m:?}");
        assert_eq!(
            q.get_timeout(Duration::from_secs(20)),
            Err(GetError::Closed),
            "{m:?}: the child let the queue go; its own child must not hold it"
        );
        p.terminate().unwrap();
        p.join();
    }
}
