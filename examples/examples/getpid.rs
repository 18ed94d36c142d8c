//! Tutorial: which processes does the sing-and-dance program run? Each prints its pid
//! (Python's `os.getpid()`) and its parent's pid (`os.getppid()`) (Python's
//! `net04_getpid.py`).
//!
//! ```text
//! cargo run --example getpid            # 5 s; meanwhile try `ps -f | grep getpid`
//! cargo run --example getpid -- --quick
//! ```
//!
//! What it teaches: three processes, three pids; both children name the main program
//! as their parent. `std::process::id()` is `os.getpid()`; `mp_process::parent_process()`
//! is Python's `multiprocessing.parent_process()` (its pid is `os.getppid()` in a child).

use examples::pause;
use mp_process::{parent_process, Process};

/// The parent's pid as this child knows it.
fn ppid() -> u32 {
    parent_process().map_or_else(std::os::unix::process::parent_id, |p| p.pid())
}

fn sing() {
    println!("唱歌进程pid: {}, ppid: {}", std::process::id(), ppid());
    for i in 0..5 {
        println!("正在唱歌呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn dance() {
    println!("跳舞进程pid: {}, ppid: {}", std::process::id(), ppid());
    for i in 0..5 {
        println!("正在跳舞呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does
                                  // The main program's own parent is the shell (or cargo).
    println!(
        "父进程pid: {}, ppid: {}",
        std::process::id(),
        std::os::unix::process::parent_id()
    );
    let mut p1 = Process::new(sing); // 创建唱歌进程
    let mut p2 = Process::new(dance); // 创建跳舞进程
    p1.start()?; // 开始运行进程sing
    p2.start()?; // 开始运行进程dance
    Ok(())
}
