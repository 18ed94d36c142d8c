//! Pieces shared by the benches: peer processes driven over command rings, and the
//! physical floors of this machine (cache-line and futex round trips, memcpy), measured in
//! the same run as the code they bound.
//!
//! Every peer is forked once per benchmark, outside the timed part; each timed call tells
//! it how many operations to do, and a `STOP` command ends it before it is reaped.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::futex;
use ipc_core::ring::{Consumer, Producer, Ring};
use ipc_core::segment::{Kind, Segment};
use ipc_core::testing::{fork, kill, reap};

/// The command that ends a peer.
pub const STOP: u64 = u64::MAX;

/// A forked peer and the ring it takes commands from.
pub struct Peer {
    pid: libc::pid_t,
    cmd: Producer,
}

impl Peer {
    /// Forks a peer running `body(n)` for every command `n` until [`STOP`]. The peer
    /// acknowledges each finished command on `done` when given.
    pub fn spawn(done: Option<&Ring>, mut body: impl FnMut(u64)) -> Peer {
        let cmd_ring = Ring::builder()
            .capacity(4096)
            .maxsize(16)
            .create()
            .expect("command ring");
        let rx = cmd_ring.consumer().expect("command consumer");
        let done_tx = done.map(|r| r.producer().expect("done producer"));
        let pid = fork(move || loop {
            let n = match rx.pop() {
                Ok(m) => u64::from_le_bytes(m[..8].try_into().unwrap_or([0xff; 8])),
                Err(_) => return 1,
            };
            if n == STOP {
                return 0;
            }
            body(n);
            if let Some(d) = &done_tx {
                if d.push(&[1]).is_err() {
                    return 2;
                }
            }
        });
        Peer {
            pid,
            cmd: cmd_ring.producer().expect("command producer"),
        }
    }

    /// Asks the peer to run its body for `n`.
    pub fn command(&self, n: u64) {
        self.cmd.push(&n.to_le_bytes()).expect("peer command");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self
            .cmd
            .push_timeout(&STOP.to_le_bytes(), Duration::from_secs(1));
        // Reap; a peer that does not stop within ten seconds is killed.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if rc == self.pid || rc < 0 {
                return;
            }
            if Instant::now() > deadline {
                kill(self.pid);
                let _ = reap(self.pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The benchmark id for messages of `size` bytes, shared by the benches so that their
/// reports line up: the largest binary unit reached, rounded down (`64B`, `1KiB`, `64KiB`,
/// `1MiB`).
///
/// ```
/// use benches::size_label;
///
/// assert_eq!(size_label(8), "8B");
/// assert_eq!(size_label(64 * 1024), "64KiB");
/// assert_eq!(size_label(1 << 20), "1MiB");
/// ```
pub fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// The data capacity the benches give a ring or queue of `size`-byte messages: room for
/// eight of them, and at least 1 MiB.
pub fn bench_capacity(size: usize) -> usize {
    (8 * size).max(1 << 20)
}

/// A ring big enough to keep several `size`-byte records in flight.
pub fn ring_for(size: usize) -> Ring {
    Ring::builder()
        .capacity(bench_capacity(size))
        .maxsize(8192)
        .create()
        .expect("bench ring")
}

/// Pops `n` records, touching the first byte of each (the read is zero-copy).
pub fn drain(rx: &Consumer, n: u64) {
    drain_with(rx, n, || {});
}

/// [`drain`] with `work` done after each record is released.
pub fn drain_with(rx: &Consumer, n: u64, work: impl Fn()) {
    for _ in 0..n {
        let m = rx.pop().expect("pop");
        std::hint::black_box(m.first().copied());
        drop(m);
        work();
    }
}

/// Pushes `n` records of `msg`.
pub fn fill(tx: &Producer, msg: &[u8], n: u64) {
    for _ in 0..n {
        tx.push(msg).expect("push");
    }
}

/// Two processes bouncing one cache line: the floor of any shared-memory round trip.
pub fn cache_line_rtt(iters: u64) -> Duration {
    let seg = Segment::create(64, Kind(0xF1)).expect("segment");
    // SAFETY: the payload is 64-byte aligned and 64 bytes long; AtomicU64 needs 8.
    let word = unsafe { &*(seg.payload_ptr() as *const AtomicU64) };
    let child = fork(|| {
        for i in 0..iters {
            while word.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            word.store(2 * i + 2, Ordering::Release);
        }
        0
    });
    let t = Instant::now();
    for i in 0..iters {
        word.store(2 * i + 1, Ordering::Release);
        while word.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let took = t.elapsed();
    let _ = reap(child);
    took
}

/// Two processes handing a turn back and forth through futex sleep and wake, never
/// spinning: the floor of a round trip to a sleeping peer.
pub fn futex_rtt(iters: u64) -> Duration {
    let seg = Segment::create(64, Kind(0xF2)).expect("segment");
    // SAFETY: 64 aligned bytes hold two AtomicU32.
    let turn = unsafe { &*(seg.payload_ptr() as *const AtomicU32) };
    let pass = |to: u32| {
        turn.store(to, Ordering::SeqCst);
        futex::wake(turn, 1);
    };
    let await_turn = |me: u32| {
        while turn.load(Ordering::SeqCst) != me {
            futex::wait(turn, 1 - me, None);
        }
    };
    let child = fork(|| {
        for _ in 0..iters {
            await_turn(1);
            pass(0);
        }
        0
    });
    let t = Instant::now();
    for _ in 0..iters {
        pass(1);
        await_turn(0);
    }
    let took = t.elapsed();
    let _ = reap(child);
    took
}

/// crossbeam `bounded(1024)` between two threads of this process: `iters` arrays of `N`
/// bytes; the in-process ceiling the ANCHORS targets compare with.
pub fn crossbeam_bounded<const N: usize>(iters: u64) -> Duration {
    crossbeam_bounded_with::<N>(iters, || {})
}

/// [`crossbeam_bounded`] with the receiver calling `work` after each message.
pub fn crossbeam_bounded_with<const N: usize>(iters: u64, work: impl Fn()) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(1024);
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        for _ in 0..iters {
            tx.send([7u8; N]).unwrap();
        }
    });
    for _ in 0..iters {
        black_box(rx.recv().unwrap()[0]);
        work();
    }
    let took = t.elapsed();
    producer.join().unwrap();
    took
}

/// A Unix pipe between two processes: one write per message of `size` bytes; the reader
/// reads exactly the bytes sent.
pub fn pipe(size: usize, iters: u64) -> Duration {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are fresh and owned here.
    let (mut r, mut w) = unsafe {
        (
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]),
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]),
        )
    };
    let msg = vec![7u8; size];
    let child = ipc_core::testing::fork(|| {
        for _ in 0..iters {
            w.write_all(&msg).unwrap();
        }
        0
    });
    drop(w);
    let mut buf = vec![0u8; size];
    let t = Instant::now();
    for _ in 0..iters {
        r.read_exact(&mut buf).unwrap();
        black_box(buf[0]);
    }
    let took = t.elapsed();
    let _ = ipc_core::testing::reap(child);
    took
}
