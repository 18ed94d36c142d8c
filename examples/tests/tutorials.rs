//! Runs each tutorial example (examples 1-12 of issue 7) in quick mode and checks the key
//! lines of what it prints.
//!
//! The example binaries are the ones `cargo test -p examples` builds next to this test
//! (`target/<profile>/examples/<name>`); cargo builds every example before running
//! integration tests. Each run is bounded: its process group is killed after
//! `TUTORIAL_LIMIT`, and a watchdog aborts the test program if even that hangs.
//!
//! Timing: only minimum durations are asserted (a timeout waited at least its length),
//! never maximum ones; orderings are asserted only where the program makes them certain
//! (a `join` or a message received), not where they depend on the scheduler.

use std::collections::HashSet;

mod common;

use common::{num, pid_pair, Output, TUTORIAL_LIMIT};

/// Runs tutorial example `name` (see [`common::run`]).
fn run(name: &'static str) -> Output {
    common::run(name, TUTORIAL_LIMIT)
}

/// Asserts `lines` are `{prefix}0` .. `{prefix}4` in order; returns their positions.
fn five_in_order(o: &Output, prefix: &str) -> Vec<usize> {
    let at: Vec<usize> = (0..5).map(|i| o.find(&format!("{prefix}{i}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{prefix} out of order");
    at
}

#[test]
fn sing_dance_interleaves_five_and_five() {
    let o = run("sing_dance");
    assert_eq!(o.lines.len(), 10, "{}", o.text());
    let sing = five_in_order(&o, "正在唱歌呢 ");
    let dance = five_in_order(&o, "正在跳舞呢 ");
    // Both ran at the same time: each started before the other finished.
    assert!(sing[0] < dance[4] && dance[0] < sing[4], "{}", o.text());
}

#[test]
fn getpid_shows_three_processes_and_their_parent() {
    let o = run("getpid");
    let (parent, _) = pid_pair(o.rest_of("父进程pid: ")[0]);
    let (sing, sing_parent) = pid_pair(o.rest_of("唱歌进程pid: ")[0]);
    let (dance, dance_parent) = pid_pair(o.rest_of("跳舞进程pid: ")[0]);
    assert_eq!(sing_parent, parent);
    assert_eq!(dance_parent, parent);
    assert_eq!(HashSet::from([parent, sing, dance]).len(), 3);
    five_in_order(&o, "正在唱歌呢 ");
    five_in_order(&o, "正在跳舞呢 ");
}

#[test]
fn process_args_reach_the_child() {
    let o = run("process_args");
    let parent = num(o.rest_of("Parent process ")[0]);
    let start = o.find("Process will start.");
    let test = o.find_prefix("Run child process test (");
    let egon = o.find_prefix("Run child process egon (");
    let end = o.find("Process end.");
    assert!(start < test && test < egon && egon < end, "{}", o.text());
    assert!(o.lines[egon].ends_with("), age 18..."), "{}", o.text());
    assert_ne!(num(&o.lines[test]), parent);
}

#[test]
fn process_subclass_runs_four_named_processes() {
    let o = run("process_subclass");
    o.find("主");
    for name in ["egon", "alex", "wupeiqi", "yuanhao"] {
        let start = o.find(&format!("{name} piaoing"));
        let end = o.find(&format!("{name} piao end"));
        assert!(start < end, "{}", o.text());
    }
    assert_eq!(o.lines.len(), 9, "{}", o.text());
}

#[test]
fn join_order_without_with_and_with_timeout() {
    let o = run("join_order");
    // 1. No join: the parent's code ends before the child does.
    let s1 = o.find("== 1. 不调用 join ==");
    let parent_end = o.find_after(s1, "父进程结束");
    let child_end = o.find_after(s1, "子进程结束");
    assert!(parent_end < child_end, "{}", o.text());
    // 2. join(): the parent waits for the child.
    let s2 = o.find("== 2. join() ==");
    assert!(child_end < s2);
    let child_end = o.find_after(s2, "子进程结束");
    let parent_end = o.find_after(s2, "父进程结束");
    assert!(child_end < parent_end, "{}", o.text());
    // 3. join(timeout): it waited at least the timeout (0.1 s in quick mode).
    let s3 = o.find("== 3. join(timeout=1) ==");
    let line = &o.lines[o.find_prefix("父进程结束 (等了 ")];
    let waited: f64 = line["父进程结束 (等了 ".len()..]
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no wait time in {line:?}"));
    assert!(waited >= 0.095, "{line}");
    o.find_after(s3, "子进程结束"); // the guard waited for the child at the end of main
}

#[test]
fn globals_not_shared_parent_and_sibling_keep_100() {
    let o = run("globals_not_shared");
    let child = o.find("101");
    let parent = o.find("父进程结束--100");
    assert!(child < parent);
    o.find("兄弟进程1: num 从 100 改为 101");
    o.find("兄弟进程2: num 从 100 改为 101"); // not from 101: sibling 1's change is not seen
    o.find("父进程: num 仍是 100");
}

#[test]
fn fork_raw_returns_twice() {
    let o = run("fork_raw");
    let child_line = o.rest_of("I am child process (")[0];
    let (child, its_parent) = child_line
        .split_once(") and my parent is (")
        .map(|(a, b)| (num(a), num(b)))
        .expect("child line");
    let parent_line = o.rest_of("I (")[0];
    let (parent, created) = parent_line
        .split_once(") just created a child process (")
        .map(|(a, b)| (num(a), num(b)))
        .expect("parent line");
    assert_eq!(its_parent, parent);
    assert_eq!(created, child);
    assert_eq!(o.lines.len(), 2);
}

#[test]
fn start_methods_fork_keeps_the_number_spawn_draws_again() {
    // A spawned child draws from 0..=100 and may hit the parent's number by chance
    // (1 in 101): up to three runs must show a different one at least once.
    let mut spawn_differed = false;
    for _ in 0..3 {
        let o = run("start_methods");
        let parse = |label: &str| -> (u64, u64) {
            let i = o.find_where(label, |l| l.ends_with(label));
            let (pid, n) = o.lines[i]
                .trim_start_matches("pid:")
                .split_once(", num is ")
                .expect("pid:.., num is ..");
            (num(pid), num(n.split_whitespace().next().unwrap()))
        };
        let (parent_pid, parent) = parse("(父进程)");
        let (fork_pid, fork) = parse("(fork 子进程)");
        let (spawn_pid, spawn) = parse("(spawn 子进程)");
        let (server_pid, _) = parse("(forkserver 子进程)");
        assert_eq!(fork, parent, "a forked child is a copy\n{}", o.text());
        assert_eq!(
            HashSet::from([parent_pid, fork_pid, spawn_pid, server_pid]).len(),
            4
        );
        if spawn != parent {
            spawn_differed = true;
            break;
        }
    }
    assert!(
        spawn_differed,
        "the spawned child never drew its own number"
    );
}

#[test]
fn pool_apply_async_runs_five_tasks_on_four_workers() {
    let o = run("pool_apply_async");
    assert_eq!(o.find("父进程启动"), 0);
    assert_eq!(o.find("父进程结束"), o.lines.len() - 1);
    let mut pids = HashSet::new();
    for i in 0..5 {
        let start = o.find_prefix(&format!("子进程{i}启动--"));
        let end = o.find_prefix(&format!("子进程{i}结束--"));
        assert!(start < end, "{}", o.text());
        let pid = num(&o.lines[start][format!("子进程{i}启动--").len()..]);
        let rest: Vec<&str> = o.lines[end].split("--").collect();
        assert_eq!(num(rest[1]), pid, "a task starts and ends in one worker");
        let secs: f64 = rest[2].trim_start_matches("耗时").parse().expect("耗时");
        assert!(
            secs >= 0.095,
            "slept at least 1 s (0.1 s quick): {}",
            o.lines[end]
        );
        pids.insert(pid);
    }
    assert!(pids.len() <= 4, "at most 4 workers: {pids:?}");
    assert_eq!(o.lines.len(), 12, "{}", o.text());
}

#[test]
fn queue_writer_reader_both_variants() {
    let o = run("queue_writer_reader");
    let part2 = o.find("== 2. 两个进程都 join ==");
    // Part 1: all six letters put, in the tutorial's order; the reader got a prefix of
    // them, in order (it may be terminated before printing the last), each after its put.
    let first = &o.lines[..part2];
    let letters = |what: &str| -> Vec<(usize, String)> {
        first
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let (_, rest) = l.split_once(&format!(" {what} "))?;
                Some((
                    i,
                    rest.strip_suffix(" queue")?.split(' ').next()?.to_owned(),
                ))
            })
            .collect()
    };
    let puts = letters("put");
    let gets = letters("get");
    let order: Vec<&str> = puts.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(order, ["a", "b", "d", "c", "e", "f"], "{}", o.text());
    assert!(gets.len() <= puts.len());
    for (k, (at, letter)) in gets.iter().enumerate() {
        assert_eq!(letter, &puts[k].1, "gets in put order\n{}", o.text());
        assert!(puts[k].0 < *at, "get after its put\n{}", o.text());
    }
    o.find_prefix("开始子进程");
    // Part 2: 4 numbered messages, each read after it was written, then both ends, DONE.
    for n in 1..5 {
        let w = o.find_after(part2, &format!("write, {n}"));
        let r = o.find_after(part2, &format!("read, {n}"));
        assert!(w < r, "{}", o.text());
    }
    o.find_after(part2, "write_task end");
    o.find_after(part2, "read_task end");
    assert_eq!(o.find("DONE"), o.lines.len() - 1);
    assert_eq!(o.count("write_task error") + o.count("read_task error"), 0);
}

#[test]
fn pipe_talks_both_ways() {
    let o = run("pipe");
    o.find_prefix("parent got: hello from child ");
    for i in 1..=3 {
        let ping = o.find_where("child got ping", |l| l.ends_with(&format!("got: ping {i}")));
        let pong = o.find(&format!("parent got: pong {i}"));
        assert!(ping < pong, "{}", o.text());
    }
    o.find_where("child got bye", |l| l.ends_with("got: bye"));
    o.find("parent: the child's end is closed");
    assert_eq!(o.find("Process end."), o.lines.len() - 1);
}

#[test]
fn lock_counter_is_right_with_the_lock() {
    let o = run("lock_counter");
    let parse = |prefix: &str| -> (u64, u64) {
        let line = o.rest_of(prefix)[0];
        let (_, rest) = line.split_once("结果 = ").expect("结果 =");
        let (total, expected) = rest.split_once(" (应为 ").expect("应为");
        (num(total), num(expected))
    };
    let (without, expected) = parse("不加锁: ");
    assert!(without <= expected, "increments cannot be gained");
    let (with, expected) = parse("加锁:   ");
    assert_eq!(with, expected, "{}", o.text());
    assert_eq!(expected, 400_000);
}
