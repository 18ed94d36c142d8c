//! Tutorial: dance and sing at once, each in its own process (the 代码示例 of Python
//! 多任务多进程).
//!
//! ```text
//! cargo run --example dance_song            # about 5 s
//! cargo run --example dance_song -- --quick
//! ```
//!
//! What it teaches: the main program creates and starts two processes and is done; the
//! two run side by side, so `跳舞` and `唱歌` interleave. The tutorial's loops are
//! `while True`; here each prints 5 times. Its code also has two typos that stop Python
//! from running it (`def mian()` but `main()` called, and `if __name__ = '__main__'`);
//! this is the program it means.

use examples::pause;
use mp_process::Process;

fn dance() {
    for _ in 0..5 {
        // while True in the tutorial
        println!("跳舞");
        pause(1.0); // 延迟1秒输出
    }
}

fn song() {
    for _ in 0..5 {
        // while True in the tutorial
        println!("唱歌");
        pause(1.0); // 延迟1秒输出
    }
}

// 一边唱歌一边跳舞~~
fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does

    // 创建跳舞进程
    let mut process_dance = Process::new(dance);
    // 开启跳舞进程
    process_dance.start()?;
    // 创建唱歌进程
    let mut process_song = Process::new(song);
    // 开启唱歌进程
    process_song.start()?;
    Ok(())
}
