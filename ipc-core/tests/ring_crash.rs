//! Crash safety: producers and consumers are killed with SIGKILL at random moments while
//! records stream through a small ring that wraps constantly. After every round: the
//! survivors finished (a watchdog guards against hangs), no record arrived twice, per-
//! producer order held, at most one record was lost per killed consumer, and the named
//! segment is gone.
//!
//! CI runs 200 rounds; `cargo test -p ipc-core --release --test ring_crash -- --ignored`
//! runs 1000. Replay a failure with the printed `SEED=...`.

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use common::{fork, kill, reap, seed, serial, watchdog, Rng};
use ipc_core::ring::Ring;
use ipc_core::segment::{Kind, Segment};
use ipc_core::{PopError, PushError};

const PRODUCERS: u32 = 2;
const CONSUMERS: u32 = 2;
const PER: u32 = 4000;
const PREFIX: &str = "mp-rs-crash";

fn record(p: u32, i: u32) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..4].copy_from_slice(&p.to_le_bytes());
    b[4..8].copy_from_slice(&i.to_le_bytes());
    for (k, x) in b[8..].iter_mut().enumerate() {
        *x = (i as usize + k) as u8; // a checkable body: a torn record would show
    }
    b
}

fn len_of(i: u32) -> usize {
    8 + (i % 33) as usize
}

fn consumer(ring: &Ring, counts: *const AtomicU8, rng_seed: u64) -> i32 {
    let rx = ring.consumer().unwrap();
    let mut rng = Rng(rng_seed);
    let mut last = [None::<u32>; PRODUCERS as usize];
    loop {
        let m = match rx.pop() {
            Ok(m) => m,
            Err(PopError::Closed) => return 0,
            Err(_) => return 2,
        };
        let p = u32::from_le_bytes(m[..4].try_into().unwrap());
        let i = u32::from_le_bytes(m[4..8].try_into().unwrap());
        if p >= PRODUCERS || i >= PER || m.len() != len_of(i) || m[..] != record(p, i)[..m.len()] {
            return 3; // corrupted or torn record
        }
        if last[p as usize].is_some_and(|l| l >= i) {
            return 4; // order broken or duplicate
        }
        last[p as usize] = Some(i);
        // SAFETY: index < PRODUCERS * PER, inside the receipts segment.
        unsafe { &*counts.add((p * PER + i) as usize) }.fetch_add(1, Ordering::Relaxed);
        if rng.below(64) == 0 {
            std::thread::yield_now(); // vary where a kill lands
        }
    }
}

fn producer(ring: &Ring, p: u32, rng_seed: u64) -> i32 {
    let tx = ring.producer().unwrap();
    let mut rng = Rng(rng_seed);
    for i in 0..PER {
        match tx.push(&record(p, i)[..len_of(i)]) {
            Ok(()) => {}
            Err(PushError::Closed) => return 0,
            Err(_) => return 2,
        }
        if rng.below(64) == 0 {
            std::thread::yield_now();
        }
    }
    0
}

fn round(rng: &mut Rng) {
    let ring = Ring::builder()
        .capacity(1024)
        .maxsize(24)
        .slots(16)
        .create_named(PREFIX)
        .unwrap();
    let name = ring.name().unwrap().to_owned();
    let receipts = Segment::create((PRODUCERS * PER) as usize, Kind(2)).unwrap();
    let counts = receipts.payload_ptr() as *const AtomicU8;
    // Consumers first, so that they hold no copy of a producer handle (see Ring docs).
    let mut kids = Vec::new();
    for _ in 0..CONSUMERS {
        let s = rng.next_u64();
        kids.push((false, fork(|| consumer(&ring, counts, s))));
    }
    for p in 0..PRODUCERS {
        let s = rng.next_u64();
        kids.push((true, fork(|| producer(&ring, p, s))));
    }
    // Kill one to three children at random moments, never both consumers (then nobody
    // could drain the ring and "lost" would be meaningless).
    let victims = 1 + rng.below(3) as usize;
    let mut consumer_killed = false;
    let mut killed = vec![false; kids.len()];
    for _ in 0..victims {
        std::thread::sleep(Duration::from_micros(rng.below(4000)));
        let k = rng.below(kids.len() as u64) as usize;
        if !kids[k].0 && (consumer_killed || killed[k]) {
            continue;
        }
        consumer_killed |= !kids[k].0;
        killed[k] = true;
        kill(kids[k].1);
    }
    let mut consumers_died = 0;
    for (k, &(is_producer, pid)) in kids.iter().enumerate() {
        match reap(pid) {
            Ok(0) => {}
            Err(libc::SIGKILL) if killed[k] => consumers_died += u32::from(!is_producer),
            other => panic!("child {k} (producer: {is_producer}) ended with {other:?}"),
        }
    }
    let mut missing = 0;
    for p in 0..PRODUCERS {
        // SAFETY: indices < PRODUCERS * PER, inside the receipts segment.
        let got: Vec<u8> = (0..PER)
            .map(|i| unsafe { &*counts.add((p * PER + i) as usize) }.load(Ordering::Relaxed))
            .collect();
        assert!(
            got.iter().all(|&n| n <= 1),
            "a record of producer {p} arrived twice"
        );
        // Everything before the last record received must have arrived, but for what the
        // killed consumers held.
        let upto = got.iter().rposition(|&n| n == 1).map_or(0, |i| i + 1);
        missing += got[..upto].iter().filter(|&&n| n == 0).count() as u32;
    }
    assert!(
        missing <= consumers_died,
        "{missing} records lost, but only {consumers_died} consumers died"
    );
    drop(ring);
    assert!(
        !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
        "named segment leaked"
    );
}

fn run(rounds: u32) {
    let mut rng = Rng(seed("ring_crash"));
    for _ in 0..rounds {
        round(&mut rng);
    }
    let leaked = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(leaked, 0, "named segments left in /dev/shm");
}

#[test]
fn kill_random_producers_and_consumers_200_rounds() {
    let _serial = serial();
    let _w = watchdog("crash 200", 600);
    run(200);
}

#[test]
#[ignore]
fn kill_random_producers_and_consumers_1000_rounds() {
    let _serial = serial();
    let _w = watchdog("crash 1000", 3000);
    run(1000);
}
