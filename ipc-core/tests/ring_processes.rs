//! The ring across real processes: throughput correctness (SPSC and 4x4 MPMC, one million
//! records each), blocking and timeouts, close, and the three ways to reach a ring (fork,
//! an inherited fd in a re-executed child, a name in an unrelated program).

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use common::{fork, reap, serial, watchdog};
use ipc_core::ring::Ring;
use ipc_core::segment::{Kind, Segment};
use ipc_core::{PopError, PushError};

fn record(producer: u32, seq: u32) -> [u8; 8] {
    ((producer as u64) << 32 | seq as u64).to_le_bytes()
}

fn parse(bytes: &[u8]) -> (u32, u32) {
    let v = u64::from_le_bytes(bytes.try_into().expect("8-byte record"));
    ((v >> 32) as u32, v as u32)
}

#[test]
fn spsc_moves_a_million_records_in_order() {
    let _serial = serial();
    let _w = watchdog("spsc", 120);
    const N: u32 = 1_000_000;
    let ring = Ring::builder().capacity(1 << 16).create().unwrap();
    let tx = ring.producer().unwrap();
    let rx = ring.consumer().unwrap();
    let child = fork(|| {
        for i in 0..N {
            tx.push(&record(0, i)).unwrap();
        }
        0
    });
    drop(tx); // the child's inherited copy is now the only producer
    for i in 0..N {
        let msg = rx.pop().unwrap();
        assert_eq!(parse(&msg), (0, i));
    }
    assert_eq!(
        rx.pop().unwrap_err(),
        PopError::Closed,
        "producer exited: drained, then closed"
    );
    assert_eq!(reap(child), Ok(0));
}

#[test]
fn mpmc_4x4_moves_a_million_records_exactly_once_in_producer_order() {
    let _serial = serial();
    let _w = watchdog("mpmc", 240);
    const P: u32 = 4;
    const PER: u32 = 250_000;
    let ring = Ring::builder()
        .capacity(1 << 16)
        .maxsize(1024)
        .create()
        .unwrap();
    let seen = Segment::create((P * PER) as usize, Kind(1)).unwrap();
    let counts = seen.payload_ptr() as *const AtomicU8;
    // Consumers first: a forked child holds a copy of every handle its parent had open,
    // and a consumer holding a producer handle would wait for itself forever.
    let rx = ring.consumer().unwrap();
    let mut kids = Vec::new();
    for _ in 0..4 {
        kids.push(fork(|| {
            let mut last = [None::<u32>; P as usize];
            loop {
                let msg = match rx.pop() {
                    Ok(m) => m,
                    Err(PopError::Closed) => return 0,
                    Err(_) => return 2,
                };
                let (p, i) = parse(&msg[..8]);
                if msg.len() != 8 + (i % 57) as usize || p >= P || i >= PER {
                    return 3;
                }
                if last[p as usize].is_some_and(|l| l >= i) {
                    return 4; // per-producer order broken
                }
                last[p as usize] = Some(i);
                // SAFETY: index < P * PER, inside the segment's payload.
                unsafe { &*counts.add((p * PER + i) as usize) }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    drop(rx);
    let tx = ring.producer().unwrap();
    for p in 0..P {
        kids.push(fork(|| {
            for i in 0..PER {
                // Vary the length (8 to 64 bytes: inline in the descriptor up to 32, in
                // the data area above) so data-area records wrap the ring at every offset.
                let mut buf = [0u8; 64];
                buf[..8].copy_from_slice(&record(p, i));
                tx.push(&buf[..8 + (i % 57) as usize]).unwrap();
            }
            0
        }));
    }
    drop(tx);
    for k in kids {
        assert_eq!(reap(k), Ok(0));
    }
    for idx in 0..(P * PER) as usize {
        // SAFETY: as above.
        let n = unsafe { &*counts.add(idx) }.load(Ordering::Relaxed);
        assert_eq!(n, 1, "record {idx} delivered {n} times");
    }
}

#[test]
fn pop_blocks_until_another_process_pushes() {
    let _serial = serial();
    let _w = watchdog("blocking pop", 60);
    let ring = Ring::builder().create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let t0 = Instant::now();
    let child = fork(|| {
        std::thread::sleep(Duration::from_millis(200));
        tx.push(b"late").map(|_| 0).unwrap_or(1)
    });
    assert_eq!(&*rx.pop().unwrap(), b"late");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(reap(child), Ok(0));
}

#[test]
fn timeouts_wait_at_least_their_duration_and_try_never_waits_for_data() {
    let _serial = serial();
    let _w = watchdog("timeouts", 60);
    let ring = Ring::builder().capacity(64).maxsize(2).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for ms in [0u64, 1, 30, 120] {
        let d = Duration::from_millis(ms);
        let t = Instant::now();
        assert_eq!(rx.pop_timeout(d).unwrap_err(), PopError::Timeout);
        assert!(t.elapsed() >= d, "pop_timeout({ms} ms) returned early");
    }
    assert_eq!(rx.try_pop().unwrap_err(), PopError::Empty);
    tx.push(b"1").unwrap();
    tx.push(b"2").unwrap();
    assert_eq!(tx.try_push(b"3"), Err(PushError::Full));
    for ms in [0u64, 1, 30, 120] {
        let d = Duration::from_millis(ms);
        let t = Instant::now();
        assert_eq!(tx.push_timeout(b"3", d), Err(PushError::Timeout));
        assert!(t.elapsed() >= d, "push_timeout({ms} ms) returned early");
    }
    assert!(matches!(
        tx.push(&[0; 65]),
        Err(PushError::TooLarge { len: 65, max: 64 })
    ));
}

#[test]
fn closing_the_last_producer_wakes_a_blocked_consumer_in_another_process() {
    let _serial = serial();
    let _w = watchdog("close wakes consumer", 60);
    let ring = Ring::builder().create().unwrap();
    let rx = ring.consumer().unwrap();
    let child = fork(|| match rx.pop() {
        Ok(m) if &*m == b"one" => match rx.pop() {
            Err(PopError::Closed) => 0,
            _ => 2,
        },
        _ => 1,
    });
    drop(rx);
    // Opened after the fork, so the child holds no copy of it.
    let tx = ring.producer().unwrap();
    tx.push(b"one").unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let the child block in pop
    drop(tx);
    assert_eq!(reap(child), Ok(0));
}

#[test]
fn a_producer_blocked_on_a_full_ring_gets_closed_when_consumers_leave() {
    let _serial = serial();
    let _w = watchdog("close wakes producer", 60);
    let ring = Ring::builder().capacity(64).maxsize(1).create().unwrap();
    let tx = ring.producer().unwrap();
    tx.push(b"fills it").unwrap();
    let child = fork(|| match tx.push(b"blocks") {
        Err(PushError::Closed) => 0,
        _ => 1,
    });
    drop(tx);
    // Opened after the fork, so the child holds no copy of it.
    let rx = ring.consumer().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(rx);
    assert_eq!(reap(child), Ok(0));
}

#[test]
fn a_producer_blocked_on_a_full_ring_gets_the_place_one_pop_frees() {
    let _serial = serial();
    // Consumers move the free cursor only every few records unless a producer waits:
    // one pop must still let a blocked producer in another process through.
    let _w = watchdog("one pop frees a place", 60);
    let ring = Ring::builder().maxsize(64).create().unwrap();
    let tx = ring.producer().unwrap();
    for i in 0..64u8 {
        tx.push(&[i]).unwrap();
    }
    let child = fork(|| tx.push(b"late").map(|_| 0).unwrap_or(1));
    let rx = ring.consumer().unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let the child sleep in push
    assert_eq!(&*rx.pop().unwrap(), &[0]);
    assert_eq!(reap(child), Ok(0));
    assert_eq!(ring.len(), 64);
}

/// Process words across deaths and slot reuse: a ring with two slots, the parent in one.
/// A child leaves 3 in its word and exits; a second child needs that slot, so reclaiming
/// it moves the 3 to the orphans, and adds 1 in its own word. The parent then adopts 3
/// once, not the living child's 1, and the 1 after that child is killed.
#[test]
fn a_dead_process_word_is_handed_out_once_even_after_its_slot_is_reused() {
    let _serial = serial();
    let _w = watchdog("process_words", 60);
    let ring = Ring::builder().capacity(4096).slots(2).create().unwrap();
    let signal = Ring::builder().capacity(4096).create().unwrap();
    let (sig_tx, sig_rx) = (signal.producer().unwrap(), signal.consumer().unwrap());
    ring.process_word().unwrap(); // the parent takes its slot
    let first = fork(|| {
        ring.process_word().unwrap().fetch_add(3, Ordering::SeqCst);
        0
    });
    assert_eq!(reap(first), Ok(0));
    let second = fork(|| {
        ring.process_word().unwrap().fetch_add(1, Ordering::SeqCst);
        sig_tx.push(b"in").unwrap();
        std::thread::sleep(Duration::from_secs(60));
        0
    });
    sig_rx.pop().unwrap();
    let mine = ring.process_word().unwrap();
    assert_eq!(
        ring.adopt_dead_words(),
        Ok(3),
        "the first child's, from the orphans"
    );
    assert_eq!(
        ring.adopt_dead_words(),
        Ok(0),
        "once, and not the living child's"
    );
    assert_eq!(
        mine.swap(0, Ordering::SeqCst),
        3,
        "adopted into the parent's word"
    );
    common::kill(second);
    assert_eq!(reap(second), Err(libc::SIGKILL));
    assert_eq!(ring.adopt_dead_words(), Ok(1));
    assert_eq!(ring.adopt_dead_words(), Ok(0));
}

#[test]
fn a_consumer_of_a_dead_producer_gets_closed_not_a_hang() {
    let _serial = serial();
    let _w = watchdog("dead producer", 60);
    let ring = Ring::builder().create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let child = fork(|| {
        tx.push(b"before death").unwrap();
        // SAFETY: raising a signal on ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    drop(tx);
    assert_eq!(reap(child), Err(libc::SIGKILL));
    assert_eq!(&*rx.pop().unwrap(), b"before death");
    assert_eq!(rx.pop().unwrap_err(), PopError::Closed);
}

/// Runs only when re-executed by the tests below, as an "unrelated program".
#[test]
#[ignore]
fn child_entry() {
    let _serial = serial();
    let Ok(mode) = std::env::var("RING_CHILD") else {
        return;
    };
    let _w = watchdog("child_entry", 30); // a re-executed child outlives its parent
    let ring = if let Some(name) = mode.strip_prefix("name=") {
        Ring::open_named(name).unwrap()
    } else {
        Ring::from_handle(mode.strip_prefix("handle=").unwrap().parse().unwrap()).unwrap()
    };
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let got = rx.pop().unwrap().to_vec();
    tx.push(&[&got[..], b" and back"].concat()).unwrap();
}

fn run_child(env: String, keep_fd: Option<i32>) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_entry",
        "--ignored",
        "--quiet",
        "--test-threads=1",
    ]);
    cmd.env("RING_CHILD", env)
        .stdout(std::process::Stdio::null());
    if let Some(fd) = keep_fd {
        // SAFETY: between fork and exec; fcntl is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap()
}

fn round_trip_with(ring: &Ring, mut child: std::process::Child) {
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push(b"there").unwrap();
    // The parent's own push could be taken back by its own pop; wait for the child's reply.
    let reply = loop {
        let m = rx.pop_timeout(Duration::from_secs(30)).unwrap();
        if &*m != b"there" {
            break m.to_vec();
        }
        drop(m);
        tx.push(b"there").unwrap();
    };
    assert_eq!(reply, b"there and back");
    assert!(child.wait().unwrap().success());
}

#[test]
fn an_unrelated_program_opens_a_ring_by_name() {
    let _serial = serial();
    let _w = watchdog("by name", 60);
    let ring = Ring::builder().create_named("mp-rs-test").unwrap();
    let name = ring.name().unwrap().to_owned();
    let child = run_child(format!("name={name}"), None);
    round_trip_with(&ring, child);
    drop(ring);
    assert!(
        !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
        "creator unlinks"
    );
}

#[test]
fn a_re_executed_child_attaches_from_an_inherited_handle() {
    let _serial = serial();
    let _w = watchdog("by handle", 60);
    let ring = Ring::builder().create().unwrap();
    let h = ring.handle();
    let child = run_child(format!("handle={h}"), Some(h.fd));
    round_trip_with(&ring, child);
}

/// A ring attached by a process that was started holding it (`hold_inherited`) and that
/// takes one role lets go of the other: its own inherited producer presence must not keep
/// its consumer from seeing `Closed`.
#[test]
fn taking_one_role_lets_go_of_the_inherited_other() {
    let ring = Ring::builder().capacity(4096).create().unwrap();
    let tx = ring.producer().unwrap();
    assert!(ipc_core::ring::hold_inherited(ring.handle().fd));
    let mine = Ring::from_handle(ring.handle()).unwrap();
    let rx = mine.consumer().unwrap();
    drop(tx);
    let soon = std::time::Instant::now() + std::time::Duration::from_millis(500);
    assert!(
        matches!(rx.pop_deadline(Some(soon)), Err(ipc_core::PopError::Closed)),
        "no producer is left"
    );
}

/// `hold_inherited` takes only rings: a pipe, a file, another kind of segment, or a
/// closed number are left alone, and nothing of theirs is mapped or closed.
#[test]
fn hold_inherited_refuses_everything_but_a_ring() {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let lock = ipc_core::sync::Lock::new().unwrap();
    let small = Segment::create(64, Kind(7)).unwrap();
    for fd in [
        file.as_raw_fd(),
        r.as_raw_fd(),
        w.as_raw_fd(),
        lock.handle().fd,
        small.handle().fd,
        -1,
        1 << 20,
    ] {
        assert!(!ipc_core::ring::hold_inherited(fd), "fd {fd}");
    }
    assert!(lock.acquire().is_ok(), "the lock's segment is untouched");
}

/// Forks while another thread holds and adopts inherited rings: the child lets go of
/// what the parent held (a fork handler), and must find exactly the descriptors the
/// table names. A fork copies descriptors and memory at two moments, so without the
/// table's lock the child could close a descriptor it never got (and abort, in a debug
/// build) or another file's.
#[test]
fn forks_racing_inherited_presence_leave_children_sound() {
    let _w = watchdog("fork_vs_inherit", 120);
    let ring = Ring::builder().capacity(4096).create().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert!(ipc_core::ring::hold_inherited(ring.handle().fd));
                let mine = Ring::from_handle(ring.handle()).unwrap();
                drop(mine.consumer().unwrap());
            }
        });
        /// Stops the other thread however this one ends (a failed assert too).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for _ in 0..300 {
            let child = fork(|| 0);
            assert_eq!(reap(child), Ok(0));
        }
    });
}
