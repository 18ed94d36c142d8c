//! Tutorial: global variables are not shared between processes. A child adds 1 to a
//! global that starts at 100; the parent still sees 100. Then the tutorial's exercise:
//! two sibling processes do not see each other's change either.
//!
//! ```text
//! cargo run --example globals_not_shared
//! ```
//!
//! What it teaches: a child starts with a *copy* of its parent's memory (fork copies it,
//! page by page, when either side writes). A change in one process stays there. To share
//! data, use shared memory (`ipc_core::sync::Value`, see `lock_counter`) or send it
//! (`mp_queue::Queue`, see `queue_writer_reader`).

use std::sync::atomic::{AtomicI32, Ordering};

use mp_process::Process;

// 定义全局变量 (a mutable global in safe Rust is an atomic)
static NUM: AtomicI32 = AtomicI32::new(100);

// 子进程
fn run() {
    println!("开始执行子进程");
    // 修改全局变量
    let num = NUM.fetch_add(1, Ordering::Relaxed) + 1;
    println!("{num}");
    println!("子进程结束");
}

/// A sibling: adds 1 and says what it saw.
fn sibling(n: u32) {
    let before = NUM.fetch_add(1, Ordering::Relaxed);
    println!("兄弟进程{n}: num 从 {before} 改为 {}", before + 1);
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init();
    println!("父进程开始");
    let mut p = Process::new(run);
    p.start()?;
    println!("父进程结束--{}", NUM.load(Ordering::Relaxed));
    // Python waits for the child at exit; we wait here, so that its lines come before
    // the exercise's. Ours is still 100 after the child's change.
    p.join();

    println!("== 兄弟进程也不共享全局变量 ==");
    // One after the other: if the siblings shared num, the second would see 101.
    for n in 1..=2 {
        let mut p = Process::new(move || sibling(n));
        p.start()?;
        p.join();
    }
    println!("父进程: num 仍是 {}", NUM.load(Ordering::Relaxed));
    Ok(())
}
