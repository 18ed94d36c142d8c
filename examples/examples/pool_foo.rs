//! Tutorial: a process pool (the `foo` example of 进程池): `Pool(4)` runs 5 tasks of 2 s
//! each, so the fifth waits for a free worker.
//!
//! ```text
//! cargo run --example pool_foo            # about 4 s
//! cargo run --example pool_foo -- --quick
//! ```
//!
//! What it teaches: `apply_async` queues a task and returns at once, so `Waiting for all
//! subprocesses done...` comes while the first four run; `close` says no more tasks will
//! come and `join` waits for every task and worker. The tutorial's code is Python 2
//! (`print '...'`); the lines are the same, though their order may differ from the
//! tutorial's shown run. Its shown output has task 4 run in the pid
//! that ran task 1: 5 tasks, 4 workers.

use examples::pause;
use mp_pool::Pool;

fn foo(x: u64) {
    println!("Run task {x} (pid:{})...", std::process::id());
    pause(2.0);
    println!("Task {x} result is: {}", x * x);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    println!("Parent process {}.", std::process::id());
    let mut p = Pool::new(4)?; // 设置进程数
    let results = (0..5)
        .map(|i| p.apply_async(foo, i)) // 设置每个进程要执行的函数和参数
        .collect::<Result<Vec<_>, _>>()?;
    println!("Waiting for all subprocesses done...");
    p.close();
    p.join()?;
    // Python drops a failed apply_async silently; here a task's error is a value.
    for r in results {
        r.get()?;
    }
    println!("All subprocesses done.");
    Ok(())
}
