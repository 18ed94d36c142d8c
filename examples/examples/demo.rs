//! The demo: producer processes stream records through one shared-memory ring to a
//! consumer process, for a few record sizes, and it prints what moved.
//!
//! ```text
//! cargo run --release --example demo            # about 4 seconds
//! cargo run --release --example demo -- --quick # a quick pass
//! ```
//!
//! What to look at: the ring lives in a nameless shared segment created before `fork`, so
//! every child shares it; records are written into shared memory once and read in place
//! (`pop` returns a guard over the bytes in the segment). When every producer has exited,
//! the consumer's `pop` returns `Closed` after the last record: no sentinel is needed.

use std::time::{Duration, Instant};

use ipc_core::ring::Ring;
use ipc_core::testing::{fork, reap};
use ipc_core::PopError;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let run_for = Duration::from_millis(if quick { 200 } else { 1000 });
    let producers = 2;
    println!(
        "{producers} producer processes -> one shared ring -> this process, {run_for:?} per size\n"
    );
    println!(
        "{:>10} {:>14} {:>12} {:>12}",
        "record", "records", "records/s", "MB/s"
    );
    for size in [8usize, 1024, 64 * 1024, 1 << 20] {
        let ring = Ring::builder().capacity((8 * size).max(1 << 20)).create()?;
        let rx = ring.consumer()?;
        let tx = ring.producer()?;
        let start = Instant::now();
        let kids: Vec<_> = (0..producers)
            .map(|p| {
                fork(|| {
                    let msg = vec![p as u8; size];
                    while start.elapsed() < run_for {
                        // A batch between clock reads keeps the clock off the hot path.
                        for _ in 0..64 {
                            if tx.push(&msg).is_err() {
                                return 1;
                            }
                        }
                    }
                    0 // the child exits, and with it its producer handle
                })
            })
            .collect();
        drop(tx); // only the children produce now
        let (mut records, mut bytes) = (0u64, 0u64);
        loop {
            match rx.pop() {
                Ok(m) => {
                    // Read the record in place: its first and last byte name its producer.
                    if m.len() != size || m[0] != m[size - 1] {
                        return Err("a record arrived damaged".into());
                    }
                    records += 1;
                    bytes += m.len() as u64;
                }
                Err(PopError::Closed) => break, // every producer is gone and the ring is drained
                Err(e) => return Err(e.into()),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        for k in kids {
            if reap(k) != Ok(0) {
                return Err("a producer failed".into());
            }
        }
        println!(
            "{:>10} {:>14} {:>12.0} {:>12.1}",
            human(size),
            records,
            records as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
    println!(
        "\nEvery record was delivered exactly once; see BENCHMARKS.md for measured comparisons."
    );
    Ok(())
}

fn human(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
