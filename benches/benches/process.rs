//! Process start + join for each start method, beside the bare floor in the same run.
//!
//! `cargo bench -p benches --bench process` (all), or filter: `-- process/spawn`.
//! Groups (time per start + join of a child that does nothing):
//! - `process/floor`: `libc::fork`, `_exit(0)` in the child, `waitpid`: the bare minimum.
//! - `process/reexec_floor`: `std::process::Command` re-executing this binary, which
//!   leaves with `_exit(0)` before `main` (same `.init_array` slot as the hook): what any
//!   spawn must pay.
//! - `process/fork`: `Process::new(|| {})`, `start`, `join` (pidfd, registry, `_exit`).
//! - `process/spawn`: an entry function in a re-executed copy of this binary.
//! - `process/forkserver`: an entry function forked by the forkserver (started once,
//!   before the timed part).
//!
//! Python's figures for the same three methods come from `benches/python/process_bench.py`.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mp_process::{Process, StartMethod};

// Spawned and forkserver children run their entry from here, before criterion's main.
mp_process::hook!();

fn nothing(_: ()) {}

const FLOOR_ENV: &str = "MP_PROCESS_BENCH_REEXEC_FLOOR";

#[used]
#[link_section = ".init_array"]
static EXIT_IF_FLOOR: extern "C" fn() = {
    extern "C" fn exit_if_floor() {
        if std::env::var_os(FLOOR_ENV).is_some() {
            // SAFETY: leaves at once; nothing of the program has run.
            unsafe { libc::_exit(0) };
        }
    }
    exit_if_floor
};

fn reexec_floor(iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        let status = std::process::Command::new("/proc/self/exe")
            .env(FLOOR_ENV, "1")
            .status()
            .unwrap();
        assert!(status.success());
    }
    t.elapsed()
}

fn floor(iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        // SAFETY: the child leaves at once with `_exit`, touching nothing.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child without running anything of the parent's.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork failed");
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid);
    }
    t.elapsed()
}

fn ours(method: StartMethod, iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        let mut p = match method {
            StartMethod::Fork => Process::new(|| {}),
            m => Process::builder()
                .start_method(m)
                .entry(nothing, &())
                .unwrap(),
        };
        p.start().unwrap();
        assert_eq!(p.join(), Some(0));
    }
    t.elapsed()
}

fn start_join(c: &mut Criterion) {
    // Start the forkserver outside the timed part.
    ours(StartMethod::Forkserver, 1);
    let mut g = c.benchmark_group("process");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function("floor", |b| b.iter_custom(floor));
    g.bench_function("fork", |b| b.iter_custom(|n| ours(StartMethod::Fork, n)));
    g.bench_function("forkserver", |b| {
        b.iter_custom(|n| ours(StartMethod::Forkserver, n))
    });
    g.bench_function("reexec_floor", |b| b.iter_custom(reexec_floor));
    g.bench_function("spawn", |b| b.iter_custom(|n| ours(StartMethod::Spawn, n)));
    g.finish();
}

criterion_group!(benches, start_join);
criterion_main!(benches);
