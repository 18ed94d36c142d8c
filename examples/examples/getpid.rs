//! Tutorial: which processes does the sing-and-dance program run? Each prints its pid, as
//! `os.getpid()` (Python's `net04_getpid.py`, in 5 多进程).
//!
//! ```text
//! cargo run --example getpid            # 5 s; meanwhile, in another terminal: ps aux | grep [g]etpid
//! cargo run --example getpid -- --quick
//! ```
//!
//! What it teaches: three processes, three pids. `std::process::id()` is `os.getpid()`;
//! `std::os::unix::process::parent_id()` is `os.getppid()`, and in a child
//! `mp_process::parent_process()` is Python's `multiprocessing.parent_process()`.

use examples::pause;
use mp_process::Process;

fn sing() {
    println!("唱歌进程pid: {}", std::process::id());
    for i in 0..5 {
        println!("正在唱歌呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn dance() {
    println!("跳舞进程pid: {}", std::process::id());
    for i in 0..5 {
        println!("正在跳舞呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does
    println!("父进程pid: {}", std::process::id());
    let mut p1 = Process::new(sing); // 创建唱歌进程
    let mut p2 = Process::new(dance); // 创建跳舞进程
    p1.start()?; // 开始运行进程sing
    p2.start()?; // 开始运行进程dance
    Ok(())
}
