//! `ipc_core::sync::Lock` beside a pthread `PTHREAD_PROCESS_SHARED` mutex in shared memory,
//! in the same run.
//!
//! `cargo bench -p benches --bench sync` (all), or filter: `-- sync/handoff`.
//! Groups:
//! - `sync/uncontended/{lock,pthread}`: acquire + release in one process, nobody else.
//! - `sync/handoff/{lock,pthread}`: locks handed between two processes in strict turns.
//!   One peer process is forked per bench (not per sample); three locks rotate between
//!   the two (see `Handoff`), each side waiting *in the lock* for the other. One
//!   iteration: the parent releases a lock the peer waits for, and takes the one the peer
//!   then releases: two acquisitions across processes, one after the other (no polling
//!   outside the lock, no turn word).
//! - Python's `multiprocessing.Lock` on the same two cases: `benches/python/sync_lock.py`
//!   (the same three-lock rotation).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ipc_core::segment::{Kind, Segment};
use ipc_core::sync::Lock;
use ipc_core::testing::{fork, reap};

/// A process-shared pthread mutex in its own segment.
struct PthreadMutex {
    seg: Segment,
}

impl PthreadMutex {
    fn new() -> PthreadMutex {
        let seg = Segment::create(std::mem::size_of::<libc::pthread_mutex_t>(), Kind(0xF3))
            .expect("segment");
        // SAFETY: the payload is zeroed, 64-byte aligned and large enough for the mutex;
        // the attr is initialised before use and destroyed after.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutex_init(seg.payload_ptr().cast(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        PthreadMutex { seg }
    }

    fn lock(&self) {
        // SAFETY: an initialised process-shared mutex in a live mapping.
        unsafe { libc::pthread_mutex_lock(self.seg.payload_ptr().cast()) };
    }

    fn unlock(&self) {
        // SAFETY: as above; called by the thread that locked it.
        unsafe { libc::pthread_mutex_unlock(self.seg.payload_ptr().cast()) };
    }
}

/// The two locks under test, behind one interface: lock and unlock by the same process.
trait Mutex: Sync {
    fn lock(&self);
    fn unlock(&self);
}

impl Mutex for Lock {
    fn lock(&self) {
        self.acquire().expect("lock").leak();
    }

    fn unlock(&self) {
        self.release().expect("release");
    }
}

impl Mutex for PthreadMutex {
    fn lock(&self) {
        PthreadMutex::lock(self);
    }

    fn unlock(&self) {
        PthreadMutex::unlock(self);
    }
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/uncontended");
    let lock = Lock::new().expect("lock");
    g.bench_function("lock", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                drop(std::hint::black_box(lock.acquire().expect("lock")));
            }
            t.elapsed()
        })
    });
    let m = PthreadMutex::new();
    g.bench_function("pthread", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                m.lock();
                m.unlock();
            }
            t.elapsed()
        })
    });
    g.finish();
}

/// A peer process and three locks it passes around with the parent, strictly in turn.
///
/// Step `i`: the parent releases `m[i % 3]` and takes `m[(i + 2) % 3]`; the peer takes
/// `m[i % 3]` and releases `m[(i + 2) % 3]`. Between steps the parent holds two locks and
/// the peer one, and each lock a side takes is one the other side holds or has just
/// released: the parent cannot take a lock back before the peer had it (as it could with
/// two locks, an unfair lock favouring the releaser), so every step is two real handoffs.
struct Handoff<'a, M: Mutex> {
    m: &'a [M; 3],
    /// `[ready, stop]` flags.
    flags: Segment,
    peer: libc::pid_t,
    /// The next step's number, mod 3.
    step: Cell<usize>,
}

impl<'a, M: Mutex> Handoff<'a, M> {
    fn start(m: &'a [M; 3]) -> Self {
        let flags = Segment::create(64, Kind(0xF4)).expect("segment");
        m[0].lock();
        m[1].lock();
        let peer = fork(|| {
            m[2].lock();
            flag(&flags, 0).store(1, Ordering::Release);
            for i in (0..3).cycle() {
                m[i].lock();
                // The parent set the flag before the release that let us in.
                if flag(&flags, 1).load(Ordering::Relaxed) != 0 {
                    m[i].unlock();
                    m[(i + 2) % 3].unlock();
                    return 0;
                }
                m[(i + 2) % 3].unlock();
            }
            unreachable!()
        });
        while flag(&flags, 0).load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        Handoff {
            m,
            flags,
            peer,
            step: Cell::new(0),
        }
    }

    /// `iters` steps: hand a lock to the peer, take the one it hands back.
    fn run(&self, iters: u64) -> Duration {
        let mut i = self.step.get();
        let t = Instant::now();
        for _ in 0..iters {
            self.m[i].unlock();
            self.m[(i + 2) % 3].lock();
            i = (i + 1) % 3;
        }
        let took = t.elapsed();
        self.step.set(i);
        took
    }

    fn stop(self) {
        flag(&self.flags, 1).store(1, Ordering::Relaxed);
        self.run(1); // lets the peer in, to see the flag, release its locks and exit
        assert_eq!(reap(self.peer), Ok(0));
        // The parent holds the two locks other than the next step's `(i + 2) % 3`.
        let i = self.step.get();
        self.m[i].unlock();
        self.m[(i + 1) % 3].unlock();
    }
}

fn flag(seg: &Segment, i: usize) -> &AtomicU32 {
    assert!(i < 16);
    // SAFETY: the 64-byte, 64-byte aligned payload holds 16 AtomicU32s; `i` is checked.
    unsafe { &*(seg.payload_ptr().add(4 * i) as *const AtomicU32) }
}

fn two_processes(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/handoff");
    g.measurement_time(Duration::from_secs(3));
    let locks = [(); 3].map(|()| Lock::new().expect("lock"));
    let h = Handoff::start(&locks);
    g.bench_function("lock", |b| b.iter_custom(|iters| h.run(iters)));
    h.stop();
    let mutexes = [(); 3].map(|()| PthreadMutex::new());
    let h = Handoff::start(&mutexes);
    g.bench_function("pthread", |b| b.iter_custom(|iters| h.run(iters)));
    h.stop();
    g.finish();
}

criterion_group!(benches, uncontended, two_processes);
criterion_main!(benches);
