//! Tutorial: another way to make a process, a `Process` subclass with its own `__init__`
//! arguments (`MyProcess` with an `id`, in the first `# 进程` tutorial).
//!
//! ```text
//! cargo run --example my_process            # about 2 s
//! cargo run --example my_process -- --quick
//! ```
//!
//! What it teaches: a struct that implements `Run` carries the subclass's attributes (here
//! `id`); `Process::builder().name(..)` is the `name=` passed on to `Process.__init__`.
//! Python's `print(self)` in `run` prints the running process; here that is
//! `current_process()`, whose `Display` is Python's repr with `Process` for the class name
//! (Python shows the subclass's: `<MyProcess name='子进程0' parent=... started>`).
//! The parent prints `父进程结束` without waiting, so its line may come before the
//! children's; the `_mp` guard waits for them when `main` returns.

use examples::pause;
use mp_process::{current_process, Process, Run};

struct MyProcess {
    id: u32,
}

impl Run for MyProcess {
    // 重写run方法
    fn run(&mut self) {
        println!("子进程{}开始运行", self.id);
        println!("{}", current_process()); // print(self)
        pause(2.0);
        println!("子进程{}结束运行", self.id);
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does
    println!("父进程开始运行");
    // 创建子进程
    for i in 0..4 {
        let mut p = Process::builder()
            .name(format!("子进程{i}"))
            .run(MyProcess { id: i });
        p.start()?; // dropping `p` next round neither waits for nor stops the child
    }
    println!("父进程结束");
    Ok(())
}
