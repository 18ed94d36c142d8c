//! Tutorial exercise 2 of 开启进程的两种方式: is memory shared between processes or
//! isolated? A child sets the global `n` to 0; the parent still has 100.
//!
//! ```text
//! cargo run --example memory_isolated
//! ```
//!
//! What it teaches: isolated. The child works on its own copy of the parent's memory, so
//! its `n = 0` never reaches the parent. The parent prints at once, without waiting, so
//! its line usually comes first, as in Python; the `_mp` guard joins the child when
//! `main` returns. The two spaces in each line are Python's: `print('主进程内: ', n)`
//! puts a space between its arguments.

use std::sync::atomic::{AtomicI32, Ordering};

use mp_process::Process;

// n=100 (a mutable global in safe Rust is an atomic)
static N: AtomicI32 = AtomicI32::new(100);

fn work() {
    N.store(0, Ordering::Relaxed); // global n; n=0
    println!("子进程内:  {}", N.load(Ordering::Relaxed));
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the child when main returns, as Python does
    let mut p = Process::new(work);
    p.start()?;
    println!("主进程内:  {}", N.load(Ordering::Relaxed));
    Ok(())
}
