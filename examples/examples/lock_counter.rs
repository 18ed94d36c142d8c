//! Tutorial: a shared counter and a `Lock`. Four processes each add 1 to a counter in
//! shared memory many times; without the lock the total comes out wrong, with it right.
//!
//! ```text
//! cargo run --example lock_counter # 4 x 100,000 increments, under a second
//! ```
//!
//! What it teaches: `counter.set(counter.get() + 1)` is a read, an add and a write. Two
//! processes can read the same old value and both write old + 1: one increment is lost.
//! A `Lock` (Python's `multiprocessing.Lock`, `with lock:`) lets one process at a time
//! through the read-add-write, so none is lost. The counter is an `ipc_core::sync::Value`
//! (Python's `Value('q', 0)`), which lives in shared memory: unlike a global variable
//! (see `globals_not_shared`), every process sees the same one.

use ipc_core::sync::{Event, Lock, Value};
use mp_process::Process;

const PROCESSES: u64 = 4;

/// Runs `PROCESSES` children that each call `add` `n` times, all starting together;
/// returns the counter's final value.
fn race(n: u64, lock: Option<&Lock>) -> Result<u64, Box<dyn std::error::Error>> {
    let counter = Value::new(0u64)?;
    let go = Event::new()?; // so that the children really run at the same time
    let mut ps = Vec::new();
    for _ in 0..PROCESSES {
        let (counter, go, lock) = (counter.clone(), go.clone(), lock.cloned());
        let mut p = Process::new(move || {
            go.wait();
            for _ in 0..n {
                match &lock {
                    Some(lock) => {
                        let _g = lock.acquire().expect("lock"); // with lock:
                        counter.set(counter.get() + 1);
                    }
                    None => counter.set(counter.get() + 1), // counter.value += 1
                }
            }
        });
        p.start()?;
        ps.push(p);
    }
    go.set();
    for p in &ps {
        if p.join() != Some(0) {
            return Err("a child failed".into());
        }
    }
    Ok(counter.get())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    let n: u64 = 100_000; // fast enough for the tests too: no quick mode needed
    let expected = PROCESSES * n;

    let total = race(n, None)?;
    println!("不加锁: {PROCESSES} 个进程各加 {n} 次, 结果 = {total} (应为 {expected})");
    if total == expected {
        println!("  (这次碰巧没有丢失; 多运行几次看看)");
    } else {
        println!("  丢失了 {} 次加法", expected - total);
    }

    let lock = Lock::new()?;
    let total = race(n, Some(&lock))?;
    println!("加锁:   {PROCESSES} 个进程各加 {n} 次, 结果 = {total} (应为 {expected})");
    Ok(())
}
