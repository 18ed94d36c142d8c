//! Tutorial: two processes side by side, one sings and one dances (Python's
//! `net04_sing_dance_multiprocess.py`).
//!
//! ```text
//! cargo run --example sing_dance            # 5 s
//! cargo run --example sing_dance -- --quick # sleeps shortened tenfold
//! ```
//!
//! What it teaches: `Process::new(f)` + `start()` runs `f` in a new process (a fork of
//! this one); the two children run at the same time, so their lines interleave.
//! Python waits for its children when the main program ends; here the `_mp` guard from
//! `mp_process::init()` does the same when `main` returns.

use examples::pause;
use mp_process::Process;

fn sing() {
    for i in 0..5 {
        println!("正在唱歌呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn dance() {
    for i in 0..5 {
        println!("正在跳舞呢 {i}");
        pause(1.0); // 休息1秒
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does
    let mut p1 = Process::new(sing); // 创建唱歌进程
    let mut p2 = Process::new(dance); // 创建跳舞进程
    p1.start()?; // 开始运行进程sing
    p2.start()?; // 开始运行进程dance
    Ok(())
}
