//! A quick check for A/B runs on a noisy host, faster than a criterion run: one producer
//! process to this one, `ring` (8-byte records) and `Queue<u64>`, beside crossbeam
//! `bounded(1024)` between two threads, alternating in each round so that all three see
//! the same host; then `Queue<u64>` put+get in this one thread (the instruction cost,
//! steadier than the cross-process figures); then the ring and crossbeam again with a
//! consumer that works about 150 ns per message, the slower side, so that the producer
//! waits on a full ring (how a pipeline with real work runs). Prints nanoseconds per
//! message for every round and the medians.
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

use benches::{crossbeam_bounded, drain, fill, ring_for, Peer};
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

    let per = |t: Instant| t.elapsed().as_nanos() as f64 / n as f64;
    let (mut cb, mut r, mut qq, mut one) = (vec![], vec![], vec![], vec![]);
    let (mut cb_work, mut r_work) = (vec![], vec![]);
    for _ in 0..rounds {
        // One thread: the instruction cost, with no line moving between cores.
        let t = Instant::now();
        for i in 0..n {
            q.put(black_box(i)).expect("put");
            black_box(q.get().expect("get"));
        }
        one.push(per(t));
        cb.push(crossbeam_bounded::<8>(n).as_nanos() as f64 / n as f64);
        let t = Instant::now();
        ring_peer.command(n);
        drain(&rx, n);
        r.push(per(t));
        let t = Instant::now();
        queue_peer.command(n);
        for _ in 0..n {
            black_box(q.get().expect("get"));
        }
        qq.push(per(t));
        cb_work.push(crossbeam_working_consumer(n).as_nanos() as f64 / n as f64);
        let t = Instant::now();
        ring_peer.command(n);
        for _ in 0..n {
            black_box(rx.pop().expect("pop")[0]);
            consumer_work();
        }
        r_work.push(per(t));
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
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
    println!(
        "Queue<u64> put+get in one thread: {} ns, median {:.1} ns",
        show(&one),
        median(one.clone())
    );
    println!(
        "consumer working: crossbeam {} | ring {}",
        show(&cb_work),
        show(&r_work)
    );
    let (c, rr) = (median(cb_work), median(r_work));
    println!(
        "median with a working consumer: crossbeam {c:.1} ns, ring {rr:.1} ns ({:.2}x \
         crossbeam's rate)",
        c / rr
    );
}

/// About 150 ns of arithmetic on this machine class: the consumer's work per message.
fn consumer_work() {
    let mut x = 1u64;
    for i in 0..200 {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    black_box(x);
}

/// crossbeam `bounded(1024)` between two threads, the receiver doing `consumer_work`.
fn crossbeam_working_consumer(iters: u64) -> std::time::Duration {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; 8]>(1024);
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        for _ in 0..iters {
            tx.send([7u8; 8]).expect("send");
        }
    });
    for _ in 0..iters {
        black_box(rx.recv().expect("recv")[0]);
        consumer_work();
    }
    let took = t.elapsed();
    producer.join().expect("crossbeam producer");
    took
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
