//! A quick check for A/B runs on a noisy host, faster than a criterion run. Each round
//! measures, one after the other, so that all see the same host:
//! - `Queue<u64>` put+get in this one thread (the instruction cost, steadier than the
//!   cross-process figures);
//! - crossbeam `bounded(1024)` between two threads of this process;
//! - one producer process to this one: `ring` (8-byte records), then `Queue<u64>`;
//! - crossbeam and the ring again with a consumer that works about 150 ns per message,
//!   the slower side, so that the producer waits on a full ring (how a pipeline with real
//!   work runs).
//!
//! Prints nanoseconds per message for every round and the medians.
//!
//! `cargo run --release -p benches --bin spsc_ab -- [messages per run] [rounds]`
//! (defaults: 2,000,000 and 5; both at least 1).
//!
//! To compare two builds: build before the change and copy `target/release/spsc_ab` aside
//! (say to `/tmp/spsc_ab.before`), because the next `cargo build` or `cargo run` overwrites
//! it; build after the change, then run the two binaries in turn a few times, or let
//! `python3 benches/scripts/ab.py 20 /tmp/spsc_ab.before target/release/spsc_ab` do it and
//! summarize. Compare their ratios to crossbeam, not the raw figures.

use std::hint::black_box;
use std::time::Instant;

use benches::{crossbeam_bounded, crossbeam_bounded_with, drain, drain_with, fill, ring_for, Peer};
use mp_queue::Queue;

const USAGE: &str =
    "usage: spsc_ab [messages per run (>= 1, default 2000000)] [rounds (>= 1, default 5)]";

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = arg(args.next(), 2_000_000);
    let rounds: usize = arg(args.next(), 5);

    let ring = ring_for(8);
    let rx = ring.consumer().expect("consumer");
    let tx = ring.producer().expect("producer");
    let ring_peer = Peer::spawn(None, |k| fill(&tx, &[7u8; 8], k));
    drop(tx);
    let q: Queue<u64> = Queue::builder().maxsize(8192).create().expect("queue");
    let qtx = q.clone();
    let queue_peer = Peer::spawn(None, move |k| {
        for i in 0..k {
            qtx.put(i).expect("put");
        }
    });

    let per_message = |took: std::time::Duration| took.as_nanos() as f64 / n as f64;
    let timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        per_message(t.elapsed())
    };
    let mut rs: Vec<Round> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        rs.push(Round {
            one_thread: timed(&mut || put_get_one_thread(&q, n)),
            crossbeam: per_message(crossbeam_bounded::<8>(n)),
            ring: timed(&mut || {
                ring_peer.command(n);
                drain(&rx, n);
            }),
            queue: timed(&mut || {
                queue_peer.command(n);
                for _ in 0..n {
                    black_box(q.get().expect("get"));
                }
            }),
            crossbeam_working: per_message(crossbeam_bounded_with::<8>(n, consumer_work)),
            ring_working: timed(&mut || {
                ring_peer.command(n);
                drain_with(&rx, n, consumer_work);
            }),
        });
    }
    report(&rs);
}

/// One round's figures, nanoseconds per message.
struct Round {
    one_thread: f64,
    crossbeam: f64,
    ring: f64,
    queue: f64,
    crossbeam_working: f64,
    ring_working: f64,
}

/// Prints every round and the medians, in the lines `benches/scripts/ab.py` reads.
fn report(rs: &[Round]) {
    let col = |f: fn(&Round) -> f64| rs.iter().map(f).collect::<Vec<f64>>();
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (cb, r, qq) = (col(|r| r.crossbeam), col(|r| r.ring), col(|r| r.queue));
    println!(
        "ns per message, each round: crossbeam {} | ring {} | queue {}",
        show(&cb),
        show(&r),
        show(&qq)
    );
    let (c, rr, qm) = (median(cb), median(r), median(qq));
    println!(
        "median: crossbeam {c:.1} ns, ring {rr:.1} ns ({:.2}x crossbeam's rate), \
         Queue<u64> {qm:.1} ns ({:.2}x)",
        c / rr,
        c / qm
    );
    let one = col(|r| r.one_thread);
    println!(
        "Queue<u64> put+get in one thread: {} ns, median {:.1} ns",
        show(&one),
        median(one.clone())
    );
    let (cw, rw) = (col(|r| r.crossbeam_working), col(|r| r.ring_working));
    println!(
        "consumer working: crossbeam {} | ring {}",
        show(&cw),
        show(&rw)
    );
    let (c, rr) = (median(cw), median(rw));
    println!(
        "median with a working consumer: crossbeam {c:.1} ns, ring {rr:.1} ns ({:.2}x \
         crossbeam's rate)",
        c / rr
    );
}

fn put_get_one_thread(q: &Queue<u64>, n: u64) {
    for i in 0..n {
        q.put(black_box(i)).expect("put");
        black_box(q.get().expect("get"));
    }
}

/// About 150 ns of arithmetic on this machine class: the consumer's work per message.
fn consumer_work() {
    let mut x = 1u64;
    for i in 0..200 {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    black_box(x);
}

/// The argument parsed as a whole number of at least 1, `default` when absent; exits with
/// the usage on anything else (0 messages or rounds would leave nothing to take a median of).
fn arg<T: std::str::FromStr + PartialOrd + From<u8>>(s: Option<String>, default: T) -> T {
    let Some(s) = s else { return default };
    match s.parse::<T>() {
        Ok(v) if v >= T::from(1) => v,
        _ => {
            eprintln!("spsc_ab: {s:?} is not a whole number of at least 1\n{USAGE}");
            std::process::exit(2);
        }
    }
}

/// The middle value of `v`, which is not empty (`main` runs at least one round).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
