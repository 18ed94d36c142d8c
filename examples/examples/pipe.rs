//! Tutorial: two processes talk over a `Pipe`, in both directions (进程间的通信可以通过
//! 管道（Pipe），队列（Queue）等多种方式来实现).
//!
//! ```text
//! cargo run --example pipe
//! ```
//!
//! What it teaches: `pipe(true)` (Python's `Pipe()`, duplex) returns two connected ends;
//! each end both sends and receives. The parent keeps one end, the child uses the other.
//! The child's end moves into the child's closure, so the parent no longer holds it once
//! the child has started (as closing the unused end of a Unix pipe): then, once the
//! child has exited, the parent's `recv` returns `Closed` instead of waiting forever.

use mp_process::Process;
use mp_queue::{pipe, GetError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    println!("Parent process {}.", std::process::id());
    let (parent_conn, child_conn) = pipe::<String>(true)?;

    let mut p = Process::new(move || {
        // The child: say hello, then answer every ping until "bye".
        let me = std::process::id();
        let talk = || -> Result<(), Box<dyn std::error::Error>> {
            child_conn.send(format!("hello from child {me}"))?;
            loop {
                let msg = child_conn.recv()?;
                println!("child ({me}) got: {msg}");
                if msg == "bye" {
                    return Ok(());
                }
                child_conn.send(msg.replace("ping", "pong"))?;
            }
        };
        if let Err(e) = talk() {
            eprintln!("child: {e}");
            std::process::exit(1);
        }
    });
    println!("Process will start.");
    // `start` forks and then drops the closure in the parent, and with it the parent's
    // `child_conn`: from here on only the child holds that end.
    p.start()?;

    println!("parent got: {}", parent_conn.recv()?);
    for i in 1..=3 {
        parent_conn.send(format!("ping {i}"))?;
        println!("parent got: {}", parent_conn.recv()?);
    }
    parent_conn.send("bye".to_string())?;
    p.join();
    // Every other end is gone now (the child exited): recv reports it.
    match parent_conn.recv() {
        Err(GetError::Closed) => println!("parent: the child's end is closed"),
        other => println!("parent: unexpected {other:?}"),
    }
    println!("Process end.");
    Ok(())
}
