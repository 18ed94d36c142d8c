//! Tutorial: processes talk through a `Queue`. A writer puts letters with random pauses,
//! a reader loops on `get`; the parent joins the writer and terminates the reader. Then
//! the variant in 进程间通信 of the fork tutorial (the second `# 进程`): 4 numbered
//! messages, and both processes are joined.
//!
//! ```text
//! cargo run --example queue_writer_reader            # about 7 s
//! cargo run --example queue_writer_reader -- --quick
//! ```
//!
//! What it teaches: the parent creates the queue and its children inherit it (主进程创建
//! queue并传递给子进程); `put` and `get` carry values between processes; `get` blocks until
//! a value arrives. The reader of part 1 loops forever, so the parent stops it with
//! `terminate()` (SIGTERM) once the writer is done.
//! Unlike Python's queue, `put` writes straight into shared memory (no feeder thread),
//! and a `get` on a queue that no process can fill any more returns `Closed` instead of
//! blocking forever.

use examples::{ctime, pause, Rng};
use mp_process::Process;
use mp_queue::{GetError, PutError, Queue};

fn write(q: &Queue<char>) {
    println!("开始子进程{}", std::process::id());
    let mut rng = Rng::new();
    for value in "abdcef".chars() {
        // (the letters as the tutorial has them)
        println!("{} put {value} to queue", ctime());
        if q.put(value).is_err() {
            return;
        }
        pause(rng.random()); // time.sleep(random.random())
    }
}

fn read(q: &Queue<char>) {
    while let Ok(value) = q.get() {
        println!("{} get {value} from queue", ctime());
    }
}

// 向队列中写入数据
fn write_task(q: &Queue<u32>) {
    let res = (|| -> Result<(), PutError<u32>> {
        for n in 1..5 {
            println!("write, {n}");
            q.put(n)?;
            pause(1.0);
        }
        Ok(())
    })();
    if res.is_err() {
        println!("write_task error"); // except BaseException
    }
    println!("write_task end"); // finally
}

// 从队列读取数据
fn read_task(q: &Queue<u32>) {
    let res = (|| -> Result<(), GetError> {
        for _ in 1..5 {
            println!("read, {}", q.get()?);
            pause(1.0);
        }
        Ok(())
    })();
    if res.is_err() {
        println!("read_task error");
    }
    println!("read_task end");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();

    println!("== 1. 写进程 + 读进程, 读进程被 terminate ==");
    // 主进程创建queue并传递给子进程 (a forked child inherits it)
    let q: Queue<char> = Queue::new()?;
    // Python passes `q` itself; each closure here owns a handle of its own (a clone: the
    // same queue), since the closures move into the processes.
    let (qw, qr) = (q.clone(), q.clone());
    let mut pw = Process::new(move || write(&qw));
    let mut pr = Process::new(move || read(&qr));
    pw.start()?;
    pr.start()?;
    pw.join();
    pr.terminate()?; // the reader loops forever: stop it
    pr.join();

    println!("== 2. 两个进程都 join ==");
    // The tutorial's code for this part lacks `import time`, so Python would print
    // `write_task error` and `read_task error` after the first value; this prints the
    // output the tutorial shows.
    let q: Queue<u32> = Queue::new()?; // 父进程创建Queue，并传给各个子进程
    let (qw, qr) = (q.clone(), q.clone());
    let mut pw = Process::new(move || write_task(&qw));
    let mut pr = Process::new(move || read_task(&qr));
    pw.start()?; // 启动子进程 pw，写入
    pr.start()?; // 启动子进程 pr，读取
    pw.join(); // 等待 pw 结束
    pr.join(); // 等待 pr 结束
    println!("DONE");
    Ok(())
}
