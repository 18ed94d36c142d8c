//! mp-queue between processes, beside its peers in the same run.
//!
//! `cargo bench -p benches --bench queue` (all), or filter: `-- queue/1p1c`.
//! Groups:
//! - `queue/1p1c/...`: one producer process, this process consuming. `u64/{get,get_ref,
//!   get_many}` is `Queue<u64>`; `bytes/SIZE/{get,get_ref,get_many}` is `ByteQueue`
//!   (`get` and `get_many` copy into new `Vec`s, `get_many` in batches of at most 1 MiB;
//!   `get_ref` reads in place and touches one byte). `bytes/SIZE/in_place`, at 64 KiB and
//!   1 MiB: the producer makes each message in place with `ByteQueue::reserve` (a fill)
//!   instead of copying one it holds, and this process takes it with `get_ref`.
//! - `queue/2p2c/...`: two producer and two consumer processes, the same cases (each
//!   consumer takes exactly its half, so `get_many` asks for at most what is left).
//! - `peer/...`: crossbeam `bounded(1024)` between two threads of one process,
//!   a Unix pipe and `ipc-channel` between two processes, memcpy and memset of 64 KiB and
//!   1 MiB in one thread.
//! - `one_thread/...`: ring push+pop, `Queue<u64>` put+get and crossbeam send+recv in one
//!   thread: the instruction cost alone, with no cache line moving between cores.
//!
//! Python's `multiprocessing.Queue` and `faster-fifo` on the same sizes:
//! `python3 benches/python/queue_bench.py` (see BENCHMARKS.md).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::{bench_capacity, crossbeam_bounded, pipe, size_label, Peer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipc_core::ring::Ring;
use mp_queue::{ByteQueue, Queue};

const SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1024 * 1024];

fn byte_queue(size: usize) -> ByteQueue {
    let opts = Queue::builder()
        .capacity(bench_capacity(size))
        .maxsize(8192);
    ByteQueue::with(opts, None).expect("byte queue")
}

/// One timed call: asks `producer` for `iters` messages and runs `take` until it has
/// taken that many (`take` returns how many it took).
fn timed(producer: &Peer, iters: u64, mut take: impl FnMut() -> u64) -> Duration {
    let t = Instant::now();
    producer.command(iters);
    let mut got = 0;
    while got < iters {
        got += take();
    }
    t.elapsed()
}

fn one_to_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue/1p1c");
    g.throughput(Throughput::Elements(1));

    let q: Queue<u64> = Queue::builder().maxsize(8192).create().unwrap();
    let tx = q.clone();
    let producer = Peer::spawn(None, move |n| {
        for i in 0..n {
            tx.put(i).expect("put");
        }
    });
    g.bench_function("u64/get", |b| {
        b.iter_custom(|iters| {
            timed(&producer, iters, || {
                black_box(q.get().unwrap());
                1
            })
        })
    });
    g.bench_function("u64/get_ref", |b| {
        b.iter_custom(|iters| {
            timed(&producer, iters, || {
                black_box(*q.get_ref().unwrap());
                1
            })
        })
    });
    g.bench_function("u64/get_many", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter_custom(|iters| {
            timed(&producer, iters, || {
                buf.clear();
                let n = q.get_many(&mut buf, 256).unwrap() as u64;
                black_box(buf.last());
                n
            })
        })
    });
    drop(producer);

    for size in SIZES {
        let q = byte_queue(size);
        let tx = q.try_clone().unwrap();
        let msg = vec![7u8; size];
        let producer = Peer::spawn(None, move |n| {
            for _ in 0..n {
                tx.put(&msg).expect("put");
            }
        });
        g.bench_function(
            BenchmarkId::new("bytes", format!("{}/get", size_label(size))),
            |b| {
                b.iter_custom(|iters| {
                    timed(&producer, iters, || {
                        black_box(q.get().unwrap());
                        1
                    })
                })
            },
        );
        g.bench_function(
            BenchmarkId::new("bytes", format!("{}/get_ref", size_label(size))),
            |b| {
                b.iter_custom(|iters| {
                    timed(&producer, iters, || {
                        black_box(q.get_ref().unwrap().first().copied());
                        1
                    })
                })
            },
        );
        // Batches of at most 1 MiB: 256 messages of 1 MiB held at once would measure page
        // faults on fresh memory, not the queue.
        let batch = ((1 << 20) / size).clamp(1, 256);
        let mut buf = Vec::with_capacity(batch);
        g.bench_function(
            BenchmarkId::new("bytes", format!("{}/get_many", size_label(size))),
            |b| {
                b.iter_custom(|iters| {
                    timed(&producer, iters, || {
                        buf.clear();
                        let n = q.get_many(&mut buf, batch).unwrap() as u64;
                        black_box(buf.last());
                        n
                    })
                })
            },
        );
        if size >= 64 << 10 {
            // The put that copies nothing: the producer makes each message in place (a
            // fill, at memset's speed) instead of copying one it holds.
            drop(producer);
            let tx = q.try_clone().unwrap();
            let maker = Peer::spawn(None, move |n| {
                for i in 0..n {
                    let mut slot = tx.reserve(size).expect("reserve");
                    slot.fill(i as u8);
                    slot.commit();
                }
            });
            g.bench_function(
                BenchmarkId::new("bytes", format!("{}/in_place", size_label(size))),
                |b| {
                    b.iter_custom(|iters| {
                        timed(&maker, iters, || {
                            black_box(q.get_ref().unwrap().first().copied());
                            1
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

/// Two producer and two consumer processes; each timed call moves `iters` messages and
/// waits for all four peers to report done.
fn two_by_two(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue/2p2c");
    g.throughput(Throughput::Elements(1));
    let done = Ring::builder().capacity(4096).create().unwrap();
    let done_rx = done.consumer().unwrap();
    let run = |peers: &[Peer], iters: u64| {
        let half = iters.div_ceil(2);
        let t = Instant::now();
        for p in peers {
            p.command(half);
        }
        for _ in 0..peers.len() {
            done_rx.pop().unwrap();
        }
        t.elapsed()
    };

    // Consumers take with `get`, `get_ref` or `get_many`; each takes exactly its half.
    type Take = fn(&Queue<u64>, u64);
    let takes: [(&str, Take); 3] = [
        ("u64/get", |rx, n| {
            for _ in 0..n {
                black_box(rx.get().expect("get"));
            }
        }),
        ("u64/get_ref", |rx, n| {
            for _ in 0..n {
                black_box(*rx.get_ref().expect("get_ref"));
            }
        }),
        ("u64/get_many", |rx, n| {
            let mut buf = Vec::with_capacity(256);
            let mut left = n;
            while left > 0 {
                buf.clear();
                left -= rx
                    .get_many(&mut buf, left.min(256) as usize)
                    .expect("get_many") as u64;
                black_box(buf.last());
            }
        }),
    ];
    for (name, take) in takes {
        let q: Queue<u64> = Queue::builder().maxsize(8192).create().unwrap();
        let mut peers: Vec<Peer> = (0..2)
            .map(|_| {
                let rx = q.clone();
                Peer::spawn(Some(&done), move |n| take(&rx, n))
            })
            .collect();
        peers.extend((0..2).map(|_| {
            let tx = q.clone();
            Peer::spawn(Some(&done), move |n| {
                for i in 0..n {
                    tx.put(i).expect("put");
                }
            })
        }));
        g.bench_function(name, |b| b.iter_custom(|iters| run(&peers, iters)));
    }

    for size in SIZES {
        for copy in [true, false] {
            let q = byte_queue(size);
            let msg = vec![7u8; size];
            let mut peers: Vec<Peer> = (0..2)
                .map(|_| {
                    let rx = q.try_clone().unwrap();
                    Peer::spawn(Some(&done), move |n| {
                        for _ in 0..n {
                            if copy {
                                black_box(rx.get().expect("get"));
                            } else {
                                black_box(rx.get_ref().expect("get_ref").first().copied());
                            }
                        }
                    })
                })
                .collect();
            peers.extend((0..2).map(|_| {
                let tx = q.try_clone().unwrap();
                let msg = msg.clone();
                Peer::spawn(Some(&done), move |n| {
                    for _ in 0..n {
                        tx.put(&msg).expect("put");
                    }
                })
            }));
            let take = if copy { "get" } else { "get_ref" };
            g.bench_function(
                BenchmarkId::new("bytes", format!("{}/{take}", size_label(size))),
                |b| b.iter_custom(|iters| run(&peers, iters)),
            );
        }
    }
    g.finish();
}

fn peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("peer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("crossbeam/u64", |b| b.iter_custom(crossbeam_bounded::<8>));
    for size in SIZES {
        g.bench_function(BenchmarkId::new("pipe", size_label(size)), |b| {
            b.iter_custom(|n| pipe(size, n))
        });
    }
    g.bench_function("ipc-channel/u64", |b| b.iter_custom(ipc_channel_u64));
    for size in SIZES {
        g.bench_function(BenchmarkId::new("ipc-channel", size_label(size)), |b| {
            b.iter_custom(|n| ipc_channel_bytes(size, n))
        });
    }
    // The copy a put makes, alone: 64 KiB stays in this core's caches, 1 MiB does not.
    // Both ends 64-byte aligned and half a page apart modulo 4 KiB: two `Vec`s of 64 KiB
    // lie 16 bytes apart modulo 4 KiB, where a copy runs 20-30% slower on this host (4K
    // aliasing, ANCHORS.md). And the fill an `in_place` producer makes, alone.
    for size in [64 << 10, 1 << 20] {
        g.bench_function(BenchmarkId::new("memcpy", size_label(size)), |b| {
            let mut buf = vec![1u8; 2 * size + 8192];
            let start = buf.as_ptr().align_offset(4096);
            let (src, dst) = buf[start..].split_at_mut(size + 2048);
            let (src, dst) = (&src[..size], &mut dst[..size]);
            b.iter(|| {
                dst.copy_from_slice(black_box(&*src));
                black_box(&dst);
            })
        });
        g.bench_function(BenchmarkId::new("memset", size_label(size)), |b| {
            let mut buf = vec![0u8; size + 64];
            let start = buf.as_ptr().align_offset(64);
            let dst = &mut buf[start..start + size];
            b.iter(|| {
                dst.fill(black_box(1));
                black_box(&dst);
            })
        });
    }
    g.finish();
}

/// The same operations in one thread, where no cache line moves between cores: what each
/// costs in instructions and atomic read-modify-writes alone.
fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("one_thread");
    g.throughput(Throughput::Elements(1));
    let ring = Ring::builder().maxsize(8192).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    g.bench_function("ring_push_pop/8B", |b| {
        b.iter(|| {
            tx.push(black_box(&[7u8; 8])).unwrap();
            black_box(rx.pop().unwrap()[0]);
        })
    });
    let q: Queue<u64> = Queue::builder().maxsize(8192).create().unwrap();
    g.bench_function("queue_put_get/u64", |b| {
        b.iter(|| {
            q.put(black_box(5)).unwrap();
            black_box(q.get().unwrap());
        })
    });
    let (ctx, crx) = crossbeam_channel::bounded::<u64>(1024);
    g.bench_function("crossbeam_send_recv/u64", |b| {
        b.iter(|| {
            ctx.send(black_box(5)).unwrap();
            black_box(crx.recv().unwrap());
        })
    });
    g.finish();
}

/// Servo's ipc-channel between two processes: typed `u64` (serde + bincode).
fn ipc_channel_u64(iters: u64) -> Duration {
    let (tx, rx) = ipc_channel::ipc::channel::<u64>().expect("ipc-channel");
    let child = ipc_core::testing::fork(|| {
        for i in 0..iters {
            tx.send(i).expect("send");
        }
        0
    });
    let t = Instant::now();
    for _ in 0..iters {
        black_box(rx.recv().expect("recv"));
    }
    let took = t.elapsed();
    let _ = ipc_core::testing::reap(child);
    took
}

/// ipc-channel's raw byte channel between two processes.
fn ipc_channel_bytes(size: usize, iters: u64) -> Duration {
    let (tx, rx) = ipc_channel::ipc::bytes_channel().expect("ipc-channel");
    let msg = vec![7u8; size];
    let child = ipc_core::testing::fork(|| {
        for _ in 0..iters {
            tx.send(&msg).expect("send");
        }
        0
    });
    let t = Instant::now();
    for _ in 0..iters {
        black_box(rx.recv().expect("recv").first().copied());
    }
    let took = t.elapsed();
    let _ = ipc_core::testing::reap(child);
    took
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(15).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = one_to_one, two_by_two, peers, one_thread
}
criterion_main!(benches);
