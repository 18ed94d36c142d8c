//! Tutorial: a process pool. `Pool(4)` runs 5 tasks that each sleep a random 1-3 s;
//! at most 4 run at once, so the fifth waits for a free worker.
//!
//! ```text
//! cargo run --example pool_apply_async            # 2-6 s
//! cargo run --example pool_apply_async -- --quick
//! ```
//!
//! What it teaches: `Pool::new(4)` starts 4 worker processes once; `apply_async(f, arg)`
//! queues a task and returns at once; `close()` says no more tasks will come; `join()`
//! waits until every task has run and the workers have left (it needs `close` first).
//! A task is a plain `fn(A) -> R`; its argument travels to a worker through shared
//! memory. The pids show that 5 tasks ran in only 4 processes: one worker ran two.

use std::time::Instant;

use examples::{pause, Rng};
use mp_pool::Pool;

fn run(name: u32) {
    println!("子进程{name}启动--{}", std::process::id());
    let start = Instant::now();
    pause(Rng::new().choice(&[1.0, 2.0, 3.0])); // time.sleep(random.choice([1, 2, 3]))
    println!(
        "子进程{name}结束--{}--耗时{:.2}",
        std::process::id(),
        start.elapsed().as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    println!("父进程启动");
    // 创建进程池: 4表示同时可以执行的进程数量 (mp_process::cpu_count() by default)
    let mut pp = Pool::new(4)?;
    let results = (0..5)
        .map(|i| pp.apply_async(run, i))
        .collect::<Result<Vec<_>, _>>()?;
    // 关闭进程池，调用close之后不能再继续添加新的任务
    pp.close();
    // 等进程池中的任务都完成再结束进程池, 注意必须在调用close之后调用join
    pp.join()?;
    // Python drops a failed apply_async silently; here a task's error is a value.
    for r in results {
        r.get()?;
    }
    println!("父进程结束");
    Ok(())
}
