//! Shared by the example tests: run an example binary in quick mode, bounded in time,
//! and look through what it printed.
//!
//! [`run`] bounds each run twice: the example's process group is killed after its time
//! limit, and a watchdog [`WATCHDOG_MARGIN`] later aborts the whole test program should
//! even that not end the run. The tests need no watchdog of their own.
#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ipc_core::testing::watchdog;

/// How long a tutorial example may run in quick mode before it is killed.
pub const TUTORIAL_LIMIT: Duration = Duration::from_secs(30);

/// How long the demo or an exercise may run in quick mode before it is killed: they
/// measure real work (thousands of files, hundreds of clients) on a shared machine.
pub const EXERCISE_LIMIT: Duration = Duration::from_secs(120);

/// How long after the time limit the watchdog in [`run`] aborts the test program.
pub const WATCHDOG_MARGIN: Duration = Duration::from_secs(30);

/// `target/<profile>/examples/<name>`, found from this test binary's own path
/// (`target/<profile>/deps/tutorials-<hash>`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "example binary {} not found; `cargo test -p examples` builds it, or run \
         `cargo build -p examples --examples` first",
        path.display()
    );
    path
}

/// What an example printed, line by line.
pub struct Output {
    pub name: &'static str,
    pub lines: Vec<String>,
}

impl Output {
    /// The index of the first line equal to `line`; panics with the whole output if none.
    pub fn find(&self, line: &str) -> usize {
        self.find_where(line, |l| l == line)
    }

    /// The index of the first line starting with `prefix`.
    pub fn find_prefix(&self, prefix: &str) -> usize {
        self.find_where(prefix, |l| l.starts_with(prefix))
    }

    pub fn find_where(&self, what: &str, pred: impl Fn(&str) -> bool) -> usize {
        match self.lines.iter().position(|l| pred(l)) {
            Some(i) => i,
            None => panic!("{}: no line {what:?} in\n{}", self.name, self.text()),
        }
    }

    /// The index of the first line equal to `line` at or after `from`.
    pub fn find_after(&self, from: usize, line: &str) -> usize {
        match self.lines[from..].iter().position(|l| l == line) {
            Some(i) => from + i,
            None => panic!(
                "{}: no line {line:?} after line {from} in\n{}",
                self.name,
                self.text()
            ),
        }
    }

    pub fn count(&self, line: &str) -> usize {
        self.lines.iter().filter(|l| *l == line).count()
    }

    /// Lines starting with `prefix`, with the prefix removed.
    pub fn rest_of(&self, prefix: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .collect()
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Runs example `name` in quick mode (in its own process group, killed after `limit`)
/// and returns its output; asserts that it exited with 0. A watchdog aborts the test
/// program [`WATCHDOG_MARGIN`] after `limit` if the run is somehow still not over.
pub fn run(name: &'static str, limit: Duration) -> Output {
    let _watchdog = watchdog(name, (limit + WATCHDOG_MARGIN).as_secs());
    let mut child = Command::new(example_path(name))
        .env(examples::QUICK_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
    let pid = child.id() as libc::pid_t;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut o, mut e) = (String::new(), String::new());
        let err_reader = std::thread::spawn(move || {
            let _ = err.read_to_string(&mut e);
            e
        });
        let _ = out.read_to_string(&mut o);
        let e = err_reader.join().unwrap_or_default();
        let status = child.wait();
        let _ = tx.send((o, e, status));
    });
    let (stdout, stderr, status) = match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => {
            // SAFETY: sends SIGKILL to the example's own process group (it was made the
            // leader of a new group above); no memory is involved.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            panic!("{name}: still running after {limit:?}; killed");
        }
    };
    let status = status.expect("wait");
    assert!(
        status.success(),
        "{name}: exited with {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Output {
        name,
        lines: stdout.lines().map(str::to_owned).collect(),
    }
}

/// The number in `s` (digits only, surrounding text removed).
pub fn num(s: &str) -> u64 {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number in {s:?}"))
}
