//! The demo: a small data pipeline across processes, end to end.
//!
//! ```text
//! cargo run --release --example demo            # about 10 seconds
//! cargo run --release --example demo -- --quick # a quick pass
//! ```
//!
//! Two producer processes put records (a sequence number and 1 KiB of data) into one
//! shared-memory `Queue`. This process takes them in batches and hands each batch to a
//! `Pool` of two worker processes, which checksum the records. Every record is checked
//! once at the end: nothing lost, nothing twice. Then the same pipeline runs with Python's
//! `multiprocessing` (when `python3` is installed), for comparison.
//!
//! What to notice: `put` writes straight into shared memory (no feeder thread, no pipe);
//! when both producers have exited, `get_many` returns `Closed` after the last record, so
//! no sentinel is needed; the pool's tasks are a plain `fn`, and each batch travels to a
//! worker serialized once, straight into the worker's ring.

use std::time::{Duration, Instant};

use mp_pool::Pool;
use mp_process::Process;
use mp_queue::rkyv::{Archive, Deserialize, Serialize};
use mp_queue::{GetError, Queue};

/// One record of the stream.
#[derive(Archive, Serialize, Deserialize)]
#[rkyv(crate = mp_queue::rkyv)]
struct Record {
    producer: u32,
    seq: u64,
    data: Vec<u8>,
}

const PRODUCERS: u32 = 2;
const RECORD_BYTES: usize = 1024;
const BATCH: usize = 512;

/// The pool's task: checksum a batch of records; returns (producer, seq, checksum) each.
fn checksum(batch: Vec<Record>) -> Vec<(u32, u64, u64)> {
    batch
        .iter()
        .map(|r| (r.producer, r.seq, hash(&r.data)))
        .collect()
}

fn hash(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// The data a producer puts for record `seq`, and the checksum the pool must find.
fn data_for(producer: u32, seq: u64) -> Vec<u8> {
    (0..RECORD_BYTES)
        .map(|i| (seq as usize + i * (producer as usize + 1)) as u8)
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    let quick = examples::quick(); // `--quick` or MP_EXAMPLES_QUICK=1
    let run_for = Duration::from_millis(if quick { 300 } else { 3000 });

    println!("{PRODUCERS} producer processes -> Queue -> this process -> Pool(2) -> results");
    println!("records of {RECORD_BYTES} B, batches of {BATCH}, producing for {run_for:?}\n");

    let queue: Queue<Record> = Queue::builder().capacity(16 << 20).create()?;
    let start = Instant::now();
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let q = queue.try_clone()?;
        let mut proc = Process::new(move || {
            let mut seq = 0;
            while start.elapsed() < run_for {
                q.put(Record {
                    producer: p,
                    seq,
                    data: data_for(p, seq),
                })
                .expect("put");
                seq += 1;
            }
        });
        proc.start()?;
        producers.push(proc);
    }
    queue.close(); // only the producers put: when they exit, the queue is closed

    let pool = Pool::new(2)?;
    let mut in_flight = std::collections::VecDeque::new();
    let mut results = Vec::new();
    let (mut records, mut tasks) = (0u64, 0u64);
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        match queue.get_many(&mut batch, BATCH) {
            Ok(n) => records += n as u64,
            Err(GetError::Closed) => break, // both producers exited and the queue is drained
            Err(e) => return Err(e.into()),
        }
        in_flight.push_back(pool.apply_async(checksum, batch)?);
        tasks += 1;
        // Keep a few batches in flight: the pool works while we read the queue.
        while in_flight.len() > 4 {
            results.push(in_flight.pop_front().expect("in flight").get()?);
        }
    }
    for r in in_flight {
        results.push(r.get()?);
    }
    let secs = start.elapsed().as_secs_f64();
    for p in producers {
        assert_eq!(p.join(), Some(0), "a producer failed");
    }

    // Every record exactly once, in order per producer, with the right checksum.
    let mut next = vec![0u64; PRODUCERS as usize];
    for (producer, seq, sum) in results.into_iter().flatten() {
        let want = hash(&data_for(producer, seq));
        if seq != next[producer as usize] || sum != want {
            return Err(format!("record {producer}/{seq} out of order or damaged").into());
        }
        next[producer as usize] += 1;
    }

    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "", "records/s", "MB/s", "tasks/s"
    );
    println!(
        "{:<22} {:>12.0} {:>10.1} {:>10.0}",
        "Rust (this workspace)",
        records as f64 / secs,
        records as f64 * RECORD_BYTES as f64 / secs / 1e6,
        tasks as f64 / secs
    );
    println!("  {records} records, every one checked: none lost, none twice");
    python_pipeline(run_for);
    Ok(())
}

/// The same pipeline with Python's multiprocessing.Queue and Pool, when python3 exists.
fn python_pipeline(run_for: Duration) {
    let script = format!(
        r#"
import multiprocessing as mp, time
def produce(q, p, until):
    seq = 0
    while time.time() < until:
        q.put((p, seq, bytes((seq + i * (p + 1)) % 256 for i in range({rb}))))
        seq += 1
    q.put(None)
def checksum(batch):
    out = []
    for p, seq, data in batch:
        h = 0
        for b in data:
            h = (h * 31 + b) % (1 << 64)
        out.append((p, seq, h))
    return out
if __name__ == "__main__":
    mp.set_start_method("fork")
    q = mp.Queue(maxsize=16384)
    start = time.time()
    procs = [mp.Process(target=produce, args=(q, p, start + {secs})) for p in range({np})]
    for p in procs: p.start()
    records = tasks = 0
    done = 0
    with mp.Pool(2) as pool:
        pending = []
        while done < {np}:
            batch = []
            while len(batch) < {batch}:
                item = q.get()
                if item is None:
                    done += 1
                    if done == {np}: break
                    continue
                batch.append(item)
            if batch:
                pending.append(pool.apply_async(checksum, (batch,)))
                records += len(batch); tasks += 1
            while len(pending) > 4: pending.pop(0).get()
        for r in pending: r.get()
    secs = time.time() - start
    for p in procs: p.join()
    print(f"{{records / secs:12.0f}} {{records * {rb} / secs / 1e6:10.1f}} {{tasks / secs:10.0f}}")
"#,
        rb = RECORD_BYTES,
        secs = run_for.as_secs_f64(),
        np = PRODUCERS,
        batch = BATCH,
    );
    match std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
    {
        Ok(out) if out.status.success() => {
            let line = String::from_utf8_lossy(&out.stdout);
            println!("{:<22} {}", "Python multiprocessing", line.trim_end());
        }
        Ok(out) => println!(
            "Python multiprocessing: skipped (python3 failed: {})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(_) => println!("Python multiprocessing: skipped (python3 not found)"),
    }
}
