//! mp-pool beside its bounds in the same run.
//!
//! `cargo bench -p benches --bench pool`. Groups:
//! - `pool/apply_async_rtt`: `apply_async(noop).get()` round trip through a 2-worker pool.
//! - `pool/map_tiny/{chunksize1,default}`: `map` of tiny tasks (x + 1), per task.
//! - `pool/map_1MiB_args`: `map` over 1 MiB byte vectors (the task returns their sum of
//!   one byte per page), per task.
//! - `bound/...`: rayon on two threads (the in-process bound) and the futex round-trip
//!   floor between two processes.
//!
//! Python's `Pool` on the same work: `python3 benches/python/pool_bench.py`.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::futex_rtt;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mp_pool::Pool;
use rayon::prelude::*;

mp_process::hook!();

fn noop(x: u64) -> u64 {
    x
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn touch(v: Vec<u8>) -> u64 {
    v.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// Tasks per timed batch of tiny-task maps: criterion's `iters` counts tasks.
const BATCH: u64 = 10_000;

fn pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    let pool = Pool::builder()
        .processes(2)
        .ring_capacity(32 << 20)
        .build()
        .expect("pool");
    g.bench_function("apply_async_rtt", |b| {
        b.iter(|| black_box(pool.apply_async(noop, 7).unwrap().get().unwrap()))
    });
    g.throughput(Throughput::Elements(1));
    for (name, chunksize) in [("chunksize1", Some(1)), ("default", None)] {
        g.bench_function(format!("map_tiny/{name}"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BATCH);
                    let out = pool.map(inc, 0..n, chunksize).unwrap();
                    black_box(out.last().cloned());
                    left -= n;
                }
                t.elapsed()
            })
        });
    }
    let big: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 1 << 20]).collect();
    g.bench_function("map_1MiB_args", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(8) as usize;
                let args = big[..n].to_vec(); // untimed: the caller's own data
                let t = Instant::now();
                black_box(pool.map(touch, args, Some(1)).unwrap());
                total += t.elapsed();
                left -= n as u64;
            }
            total
        })
    });
    g.finish();
}

fn bounds(c: &mut Criterion) {
    let mut g = c.benchmark_group("bound");
    g.throughput(Throughput::Elements(1));
    let rayon2 = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon");
    g.bench_function("rayon2/map_tiny", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            let out: Vec<u64> = rayon2.install(|| (0..iters).into_par_iter().map(inc).collect());
            black_box(out.last().copied());
            t.elapsed()
        })
    });
    g.bench_function("futex_rtt", |b| b.iter_custom(futex_rtt));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(15).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = pool, bounds
}
criterion_main!(benches);
