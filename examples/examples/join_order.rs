//! Tutorial: the order of parent and child. Without `join` the parent's code ends before
//! its child's; with `join` the parent waits; with `join(timeout)` it waits only that long.
//!
//! ```text
//! cargo run --example join_order            # about 9 s
//! cargo run --example join_order -- --quick
//! ```
//!
//! What it teaches: `start` returns at once and the child runs on its own. `join()`
//! blocks until the child exits; `join_timeout(d)` (Python's `join(timeout)`) returns
//! after at most `d`, `None` if the child is still running (check `is_alive`).

use std::time::Instant;

use examples::{pause, scaled};
use mp_process::Process;

fn run() {
    println!("子进程启动");
    pause(3.0);
    println!("子进程结束");
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does

    println!("== 1. 不调用 join ==");
    println!("父进程启动");
    let mut p = Process::new(run);
    p.start()?;
    println!("父进程结束");
    // The parent's code is done and the child still runs. Python would now wait for the
    // child at exit (the `_mp` guard does that at the end of `main`); we wait here so
    // that the next part's lines do not mix with this child's.
    p.join();

    println!("== 2. join() ==");
    println!("父进程启动");
    let mut p = Process::new(run);
    p.start()?;
    p.join(); // 等待子进程结束
    println!("父进程结束");

    println!("== 3. join(timeout=1) ==");
    println!("父进程启动");
    let mut p = Process::new(run);
    p.start()?;
    let t = Instant::now();
    let code = p.join_timeout(scaled(1.0)); // 最多等1秒
    println!(
        "父进程结束 (等了 {:.2} 秒, 子进程还活着: {}, exitcode: {code:?})",
        t.elapsed().as_secs_f64(),
        p.is_alive()
    );
    Ok(()) // the `_mp` guard waits for the child here
}
