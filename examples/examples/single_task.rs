//! Tutorial: one task at a time (the first example of the first `# 进程` tutorial). The main program's loop
//! must end before `run` can begin.
//!
//! ```text
//! cargo run --example single_task            # about 7 s
//! cargo run --example single_task -- --quick
//! ```
//!
//! What it teaches: without a second process, code runs in order: `run` starts only once
//! the loop before it has ended. The tutorial's loops are `while True`, so there `run` is
//! never reached at all; here each loop stops after three rounds so that the program ends
//! and the order shows. `first_process` runs the two tasks at once.

use examples::pause;

// 任务一
fn run() {
    for _ in 0..3 {
        // while True in the tutorial
        println!("hot day");
        pause(1.2);
    }
}

fn main() {
    // 任务二
    for _ in 0..3 {
        // while True in the tutorial
        println!("good day");
        pause(1.0);
    }
    // 只有上面的while循环结束才会执行到run
    run();
}
