//! Tutorial: the same two tasks at once, `run` in a child process (the first `Process`
//! example of the first `# 进程` tutorial).
//!
//! ```text
//! cargo run --example first_process            # about 5 s
//! cargo run --example first_process -- --quick
//! ```
//!
//! What it teaches: `Process::new(run)` + `start()` runs `run` in a new process while the
//! main program goes on with its own loop, so `hot day` and `good day` interleave. The
//! tutorial's loops are `while True` (stop it with Ctrl-C); here the child says `hot day`
//! 4 times and the parent `good day` 5 times, about 5 s each, and the `_mp` guard waits
//! for the child when `main` returns, as Python does.

use examples::pause;
use mp_process::Process;

fn run() {
    for _ in 0..4 {
        // while True in the tutorial
        println!("hot day");
        pause(1.2);
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the child when main returns, as Python does
    println!("主（父）进程启动");
    // 创建子进程
    let mut p = Process::new(run);
    // 启动进程
    p.start()?;
    for _ in 0..5 {
        // while True in the tutorial
        println!("good day");
        pause(1.0);
    }
    Ok(())
}
