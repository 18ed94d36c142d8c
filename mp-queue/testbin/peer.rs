//! `mp-queue-peer`: a separate program the mp-queue tests start, to show that queues and
//! pipes reach unrelated programs (by name) and spawned ones (by inherited handle).
//!
//! Usage: `mp-queue-peer MODE ARG...`
//! - `get-name NAME N`: opens the named `Queue<Job>`, takes N jobs, checks and prints ids.
//! - `put-name NAME N`: opens the named `Queue<Job>` and puts jobs 0..N.
//! - `get-handle FD:SIZE N`: as get-name, from an inherited handle.
//! - `echo-pipe NAME`: opens the named pipe end, echoes `String`s back with " and back"
//!   until the peer closes.
//! - `echo-handle SEND;RECV`: the same over an inherited connection handle.
//! - `joinable-handle FD:SIZE`: takes every job from a JoinableQueue, calling task_done.

#[path = "../tests/common/job.rs"]
mod job;

use job::{job, Job};
use mp_queue::{ByteQueue, Connection, GetError, JoinableQueue, Queue, SimpleQueue};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let n = || arg(2).parse::<u64>().expect("count");
    match arg(0) {
        "get-name" => get_all(&Queue::<Job>::open(arg(1)).expect("open"), n()),
        "get-handle" => get_all(
            &Queue::<Job>::from_handle(arg(1).parse().expect("handle")).expect("attach"),
            n(),
        ),
        "put-name" => {
            let q = Queue::<Job>::open(arg(1)).expect("open");
            for i in 0..n() {
                q.put(job(i, 100)).expect("put");
            }
        }
        "echo-pipe" => echo(Connection::<String>::open(arg(1)).expect("open pipe")),
        "echo-handle" => echo(
            Connection::<String>::from_handle(arg(1).parse().expect("handle")).expect("attach"),
        ),
        "joinable-handle" => {
            let q =
                JoinableQueue::<Job>::from_handle(arg(1).parse().expect("handle")).expect("attach");
            let mut n = 0;
            while let Ok(j) = q.get_timeout(std::time::Duration::from_secs(2)) {
                assert_eq!(j, job(j.id, 10));
                q.task_done().expect("task_done");
                n += 1;
            }
            println!("done {n}");
        }
        "simple" => {
            // `simple name=NAME N` or `simple handle=FD:SIZE N`: take N strings, print them.
            let q = match arg(1).split_once('=') {
                Some(("name", n)) => SimpleQueue::<String>::open(n).expect("open"),
                Some(("handle", h)) => {
                    SimpleQueue::<String>::from_handle(h.parse().expect("handle")).expect("attach")
                }
                _ => panic!("simple name=.. or handle=.."),
            };
            let got: Vec<String> = (0..n()).map(|_| q.get().expect("get")).collect();
            println!("{}", got.join(","));
        }
        "bytes" => {
            // `bytes name=NAME N` or `bytes handle=FD:SIZE N`: take N frames, print each
            // as text (the tests send UTF-8).
            let q = match arg(1).split_once('=') {
                Some(("name", n)) => ByteQueue::open(n).expect("open"),
                Some(("handle", h)) => {
                    ByteQueue::from_handle(h.parse().expect("handle")).expect("attach")
                }
                _ => panic!("bytes name=.. or handle=.."),
            };
            let got: Vec<String> = (0..n())
                .map(|_| String::from_utf8(q.get().expect("get")).expect("utf-8"))
                .collect();
            println!("{}", got.join(","));
        }
        "joinable-name" => {
            let q = JoinableQueue::<Job>::open(arg(1)).expect("open");
            for _ in 0..n() {
                let j = q.get().expect("get");
                assert_eq!(j, job(j.id, 10));
                q.task_done().expect("task_done");
            }
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}

fn get_all(q: &Queue<Job>, n: u64) {
    let mut sum = 0;
    for _ in 0..n {
        let j = q.get().expect("get");
        assert_eq!(j, job(j.id, 100), "job arrived damaged");
        sum += j.id;
    }
    println!("sum {sum}");
}

fn echo(conn: Connection<String>) {
    loop {
        match conn.recv() {
            Ok(s) => conn.send(format!("{s} and back")).expect("send"),
            Err(GetError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    println!("peer closed");
}
