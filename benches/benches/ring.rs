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
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use benches::{cache_line_rtt, drain, fill, futex_rtt, ring_for, Peer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipc_core::ring::Ring;

const SIZES: [usize; 4] = [8, 1024, 64 * 1024, 1024 * 1024];

fn label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

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
        g.bench_function(BenchmarkId::from_parameter(label(size)), |b| {
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
        g.bench_function(BenchmarkId::from_parameter(label(size)), |b| {
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
    g.bench_function("crossbeam/8B", |b| {
        b.iter_custom(crossbeam_bounded::<8>)
    });
    g.bench_function("crossbeam/1KiB", |b| {
        b.iter_custom(crossbeam_bounded::<1024>)
    });
    for size in SIZES {
        g.bench_function(BenchmarkId::new("pipe", label(size)), |b| {
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

fn crossbeam_bounded<const N: usize>(iters: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(1024);
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        for _ in 0..iters {
            tx.send([7u8; N]).unwrap();
        }
    });
    for _ in 0..iters {
        black_box(rx.recv().unwrap()[0]);
    }
    let took = t.elapsed();
    producer.join().unwrap();
    took
}

/// One write per message into a pipe; the reader reads exactly the bytes sent.
fn pipe(size: usize, iters: u64) -> Duration {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are fresh and owned here.
    let (mut r, mut w) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = spsc, two_by_two, round_trip, baselines
}
criterion_main!(benches);
