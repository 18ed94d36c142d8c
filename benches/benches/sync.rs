//! `ipc_core::sync::Lock` beside a pthread `PTHREAD_PROCESS_SHARED` mutex in shared memory,
//! in the same run.
//!
//! `cargo bench -p benches --bench sync` (all), or filter: `-- sync/handoff`.
//! Groups:
//! - `sync/uncontended/{lock,pthread}`: acquire + release in one process, nobody else.
//! - `sync/handoff/{lock,pthread}`: two processes take turns; each iteration is one turn
//!   handed to the other process and back (two acquisitions across processes). Turns are
//!   kept strict by a shared turn word read under the lock, so the lock is truly handed
//!   over each time, the waiting side sleeping in the lock.
//! - Python's `multiprocessing.Lock` on the same two cases: `benches/python/sync_lock.py`.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
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

/// The two locks under test, behind one interface.
trait Mutex: Sync {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R;
}

impl Mutex for Lock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.acquire().expect("lock");
        f()
    }
}

impl Mutex for PthreadMutex {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        self.lock();
        let r = f();
        self.unlock();
        r
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

/// Two processes take strict turns through `m`: the parent owns even turns, the child odd.
/// Returns the time for `iters` round trips (2 * iters turns).
fn handoff(m: &impl Mutex, iters: u64) -> Duration {
    let seg = Segment::create(64, Kind(0xF4)).expect("segment");
    // SAFETY: 64 aligned bytes hold one AtomicU64.
    let turn = unsafe { &*(seg.payload_ptr() as *const AtomicU64) };
    let take_turns = |mine: u64| {
        for i in 0..iters {
            let want = 2 * i + mine;
            while !m.with(|| {
                let t = turn.load(Ordering::Relaxed);
                if t == want {
                    turn.store(t + 1, Ordering::Relaxed);
                }
                t == want
            }) {
                std::thread::yield_now();
            }
        }
    };
    let child = fork(|| {
        take_turns(1);
        0
    });
    let t = Instant::now();
    take_turns(0);
    // The last turn is the child's.
    while turn.load(Ordering::Acquire) != 2 * iters {
        std::hint::spin_loop();
    }
    let took = t.elapsed();
    assert_eq!(reap(child), Ok(0));
    took
}

fn two_processes(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/handoff");
    g.measurement_time(Duration::from_secs(3));
    let lock = Lock::new().expect("lock");
    g.bench_function("lock", |b| b.iter_custom(|iters| handoff(&lock, iters)));
    let m = PthreadMutex::new();
    g.bench_function("pthread", |b| b.iter_custom(|iters| handoff(&m, iters)));
    g.finish();
}

criterion_group!(benches, uncontended, two_processes);
criterion_main!(benches);
