//! The ipc-core ring across processes, beside its baselines in the same run.
//!
//! `cargo bench -p benches --bench ring` (all), or filter: `-- ring/spsc`.
//! Groups:
//! - `ring/spsc/SIZE`, `ring/2p2c/SIZE`: records per second between processes; the reader
//!   touches one byte of each record (the read is zero-copy).
//! - `ring/rtt/{busy,asleep}`: ping-pong round trip, the peer spinning or asleep in `pop`.
//! - `baseline/...`: crossbeam `bounded(1024)` between two threads of one process, a Unix
//!   pipe between two processes, memcpy in one thread, and the cache-line and futex round
//!   trip floors between two processes.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::{
    cache_line_rtt, crossbeam_bounded, drain, fill, futex_rtt, pipe, ring_for, size_label, Peer,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipc_core::ring::Ring;

const SIZES: [usize; 4] = [8, 1024, 64 * 1024, 1024 * 1024];

fn spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/spsc");
    for size in SIZES {
        g.throughput(Throughput::Elements(1));
        let ring = ring_for(size);
        let rx = ring.consumer().unwrap();
        let tx = ring.producer().unwrap();
        let msg = vec![7u8; size];
        let peer = Peer::spawn(None, |n| fill(&tx, &msg, n));
        drop(tx);
        g.bench_function(BenchmarkId::from_parameter(size_label(size)), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                peer.command(iters);
                drain(&rx, iters);
                t.elapsed()
            })
        });
    }
    g.finish();
}

fn two_by_two(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/2p2c");
    for size in SIZES {
        g.throughput(Throughput::Elements(1));
        let ring = ring_for(size);
        let done = Ring::builder().capacity(4096).create().unwrap();
        let done_rx = done.consumer().unwrap();
        let rx = ring.consumer().unwrap();
        let consumers: Vec<Peer> = (0..2)
            .map(|_| Peer::spawn(Some(&done), |n| drain(&rx, n)))
            .collect();
        drop(rx);
        let tx = ring.producer().unwrap();
        let msg = vec![7u8; size];
        let producers: Vec<Peer> = (0..2)
            .map(|_| Peer::spawn(Some(&done), |n| fill(&tx, &msg, n)))
            .collect();
        drop(tx);
        g.bench_function(BenchmarkId::from_parameter(size_label(size)), |b| {
            b.iter_custom(|iters| {
                let half = iters.div_ceil(2);
                let t = Instant::now();
                for p in consumers.iter().chain(&producers) {
                    p.command(half);
                }
                for _ in 0..4 {
                    done_rx.pop().unwrap();
                }
                t.elapsed()
            })
        });
        drop((producers, consumers));
    }
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/rtt");
    let (ping, pong) = (ring_for(8), ring_for(8));
    let (ping_rx, pong_tx) = (ping.consumer().unwrap(), pong.producer().unwrap());
    let echo = Peer::spawn(None, |n| {
        for _ in 0..n {
            let m = ping_rx.pop().unwrap();
            pong_tx.push(&m).unwrap();
        }
    });
    drop((ping_rx, pong_tx));
    let (ping_tx, pong_rx) = (ping.producer().unwrap(), pong.consumer().unwrap());
    g.bench_function("busy", |b| {
        b.iter_custom(|iters| {
            echo.command(iters);
            let t = Instant::now();
            for i in 0..iters {
                ping_tx.push(&i.to_le_bytes()).unwrap();
                black_box(pong_rx.pop().unwrap().len());
            }
            t.elapsed()
        })
    });
    g.bench_function("asleep", |b| {
        b.iter_custom(|iters| {
            echo.command(iters);
            let mut total = Duration::ZERO;
            for i in 0..iters {
                // Untimed: give the echo time to fall asleep in `pop`.
                let idle = Instant::now();
                while idle.elapsed() < Duration::from_micros(200) {
                    std::hint::spin_loop();
                }
                let t = Instant::now();
                ping_tx.push(&i.to_le_bytes()).unwrap();
                black_box(pong_rx.pop().unwrap().len());
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn baselines(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("crossbeam/8B", |b| b.iter_custom(crossbeam_bounded::<8>));
    g.bench_function("crossbeam/1KiB", |b| {
        b.iter_custom(crossbeam_bounded::<1024>)
    });
    for size in SIZES {
        g.bench_function(BenchmarkId::new("pipe", size_label(size)), |b| {
            b.iter_custom(|n| pipe(size, n))
        });
    }
    g.bench_function("memcpy/1MiB", |b| {
        let (src, mut dst) = (vec![1u8; 1 << 20], vec![0u8; 1 << 20]);
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.bench_function("cache_line_rtt", |b| b.iter_custom(cache_line_rtt));
    g.bench_function("futex_rtt", |b| b.iter_custom(futex_rtt));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = spsc, two_by_two, round_trip, baselines
}
criterion_main!(benches);
