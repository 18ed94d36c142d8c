//! Runs each tutorial example in quick mode and checks what it prints against the lines
//! the tutorial's Python prints: every line, where the Python program's order is certain.
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

use common::{num, Output, TUTORIAL_LIMIT};

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

/// Asserts `lines` hold exactly `want`, in any order (for lines of processes that run at
/// once).
fn same_lines(o: &Output, lines: &[String], want: &[&str]) {
    let mut got: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut want = want.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{}", o.text());
}

/// The pid in the first line, `Parent process N.` (the tutorials' English examples).
fn parent_process_line(o: &Output) -> u64 {
    o.lines
        .first()
        .and_then(|l| l.strip_prefix("Parent process "))
        .and_then(|r| r.strip_suffix('.'))
        .map(num)
        .unwrap_or_else(|| panic!("no `Parent process N.` first\n{}", o.text()))
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
fn getpid_shows_three_processes() {
    let o = run("getpid");
    assert_eq!(o.find_prefix("父进程pid: "), 0, "{}", o.text());
    let pid = |prefix: &str| -> u64 {
        let rest = o.rest_of(prefix);
        assert_eq!(rest.len(), 1, "{}", o.text());
        rest[0]
            .parse()
            .unwrap_or_else(|_| panic!("{prefix}{}", rest[0]))
    };
    let (parent, sing, dance) = (
        pid("父进程pid: "),
        pid("唱歌进程pid: "),
        pid("跳舞进程pid: "),
    );
    assert_eq!(HashSet::from([parent, sing, dance]).len(), 3);
    five_in_order(&o, "正在唱歌呢 ");
    five_in_order(&o, "正在跳舞呢 ");
    assert!(o.find_prefix("唱歌进程pid: ") < o.find("正在唱歌呢 0"));
    assert!(o.find_prefix("跳舞进程pid: ") < o.find("正在跳舞呢 0"));
    assert_eq!(o.lines.len(), 13, "{}", o.text());
}

#[test]
fn process_args_reach_the_child() {
    let o = run("process_args");
    let l = &o.lines;
    assert_eq!(l.len(), 6, "{}", o.text());
    let parent = parent_process_line(&o);
    assert_eq!(l[1], "Process will start.");
    let test = l[2]
        .strip_prefix("Run child process test (")
        .and_then(|r| r.strip_suffix(")..."))
        .map(num)
        .expect("Run child process test (N)...");
    assert_ne!(test, parent);
    assert_eq!(l[3], "Process end.");
    // Beyond the tutorial's four lines: the kwargs, across spawn.
    assert_eq!(l[4], "== kwargs ==");
    assert!(
        l[5].starts_with("Run child process egon (") && l[5].ends_with("), age 18..."),
        "{}",
        o.text()
    );
}

/// Four `{name} piaoing` / `{name} piao end` pairs, each in order, and `主`: 9 lines.
fn four_piaos(o: &Output, names: [&str; 4]) {
    o.find("主");
    for name in names {
        let start = o.find(&format!("{name} piaoing"));
        let end = o.find(&format!("{name} piao end"));
        assert!(start < end, "{}", o.text());
    }
    assert_eq!(o.lines.len(), 9, "{}", o.text());
}

#[test]
fn process_subclass_runs_four_named_processes() {
    four_piaos(
        &run("process_subclass"),
        ["egon", "alex", "wupeiqi", "yuanhao"],
    );
}

#[test]
fn piao_starts_four_processes_with_arguments() {
    // The tutorial's way 1 spells the third name `wupeqi`.
    four_piaos(&run("piao"), ["egon", "alex", "wupeqi", "yuanhao"]);
}

#[test]
fn join_order_without_with_and_with_timeout() {
    let o = run("join_order");
    // 1. No join: the tutorial's four lines. The parent's end does not wait for the
    // child, but when it prints beside the child's lines is the scheduler's call.
    let s1 = o.find("== 1. 不调用 join ==");
    assert_eq!(o.lines[s1 + 1], "父进程启动", "{}", o.text());
    same_lines(
        &o,
        &o.lines[s1 + 1..s1 + 5],
        &["父进程启动", "父进程结束", "子进程启动", "子进程结束"],
    );
    assert!(o.find_after(s1, "子进程启动") < o.find_after(s1, "子进程结束"));
    // 2. join(): the parent waits for the child.
    let s2 = o.find("== 2. join() ==");
    assert_eq!(s2, s1 + 5);
    assert_eq!(o.lines[s2 + 1], "父进程启动");
    assert_eq!(o.lines[s2 + 2], "子进程启动");
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
    // The tutorial's five lines. The parent prints its end at once, so its line may come
    // before or after the child's; the child's three are in order.
    let exercise = o.find("== 兄弟进程也不共享全局变量 ==");
    assert_eq!(o.lines[0], "父进程开始", "{}", o.text());
    same_lines(
        &o,
        &o.lines[..exercise],
        &[
            "父进程开始",
            "父进程结束--100",
            "开始执行子进程",
            "101",
            "子进程结束",
        ],
    );
    assert!(o.find("开始执行子进程") < o.find("101") && o.find("101") < o.find("子进程结束"));
    // The exercise: siblings do not share it either.
    assert_eq!(
        &o.lines[exercise + 1..],
        [
            "兄弟进程1: num 从 100 改为 101",
            "兄弟进程2: num 从 100 改为 101", // not from 101: sibling 1's change is not seen
            "父进程: num 仍是 100",
        ],
        "{}",
        o.text()
    );
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
    assert!(o.lines.iter().all(|l| l.ends_with(").")), "{}", o.text());
}

#[test]
fn start_methods_fork_keeps_the_number_spawn_draws_again() {
    // A spawned child draws from 0..=100 and may hit the parent's number by chance
    // (1 in 101): up to three runs must show a different one at least once.
    let mut spawn_differed = false;
    for _ in 0..3 {
        let o = run("start_methods");
        assert_eq!(o.lines.len(), 9, "{}", o.text());
        // Per method: its label, the parent's line, the child's line, as Python prints.
        let block = |method: &str| -> [(u64, u64); 2] {
            let at = o.find(&format!("== {method} =="));
            [1, 2].map(|k| {
                let (pid, n) = o.lines[at + k]
                    .strip_prefix("pid:")
                    .and_then(|l| l.split_once(", num is "))
                    .unwrap_or_else(|| panic!("pid:N, num is N\n{}", o.text()));
                (num(pid), num(n))
            })
        };
        let [(parent_pid, parent), (fork_pid, fork)] = block("fork");
        let [spawn_parent, (spawn_pid, spawn)] = block("spawn");
        let [server_parent, (server_pid, _)] = block("forkserver");
        assert_eq!(spawn_parent, (parent_pid, parent));
        assert_eq!(server_parent, (parent_pid, parent));
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

#[test]
fn single_task_runs_one_loop_then_the_other() {
    let o = run("single_task");
    let want = [
        "good day", "good day", "good day", "hot day", "hot day", "hot day",
    ];
    assert_eq!(o.lines, want, "{}", o.text());
}

#[test]
fn first_process_runs_both_loops_at_once() {
    let o = run("first_process");
    assert_eq!(o.lines[0], "主（父）进程启动", "{}", o.text());
    let mut want = vec!["good day"; 5];
    want.extend(["hot day"; 4]);
    same_lines(&o, &o.lines[1..], &want);
}

#[test]
fn dance_song_runs_both_at_once() {
    let o = run("dance_song");
    let mut want = vec!["跳舞"; 5];
    want.extend(["唱歌"; 5]);
    same_lines(&o, &o.lines, &want);
}

#[test]
fn my_process_prints_its_id_and_itself() {
    let o = run("my_process");
    assert_eq!(o.lines[0], "父进程开始运行", "{}", o.text());
    o.find("父进程结束");
    let mut parents = HashSet::new();
    for i in 0..4 {
        let start = o.find(&format!("子进程{i}开始运行"));
        // print(self): Python's repr of the running process.
        let me = o.find_prefix(&format!("<Process name='子进程{i}' parent="));
        let end = o.find(&format!("子进程{i}结束运行"));
        assert!(start < me && me < end, "{}", o.text());
        let parent = o.lines[me]
            .split_once(" parent=")
            .and_then(|(_, r)| r.strip_suffix(" started>"))
            .map(num)
            .unwrap_or_else(|| panic!("{}", o.lines[me]));
        parents.insert(parent);
    }
    assert_eq!(parents.len(), 1, "one parent for all four: {parents:?}");
    assert_eq!(o.lines.len(), 14, "{}", o.text());
}

#[test]
fn pool_foo_runs_five_tasks_on_four_workers() {
    let o = run("pool_foo");
    let parent = parent_process_line(&o);
    o.find("Waiting for all subprocesses done...");
    assert_eq!(o.find("All subprocesses done."), o.lines.len() - 1);
    let mut pids = HashSet::new();
    for x in 0..5u64 {
        let run_line = o.find_prefix(&format!("Run task {x} (pid:"));
        let pid = o.lines[run_line]
            .strip_prefix(&format!("Run task {x} (pid:"))
            .and_then(|r| r.strip_suffix(")..."))
            .map(num)
            .unwrap_or_else(|| panic!("{}", o.lines[run_line]));
        let result = o.find(&format!("Task {x} result is: {}", x * x));
        assert!(run_line < result, "{}", o.text());
        assert_ne!(pid, parent);
        pids.insert(pid);
    }
    assert!(pids.len() <= 4, "at most 4 workers: {pids:?}");
    assert_eq!(o.lines.len(), 13, "{}", o.text());
}

#[test]
fn memory_isolated_parent_keeps_100() {
    let o = run("memory_isolated");
    same_lines(&o, &o.lines, &["主进程内:  100", "子进程内:  0"]);
}
