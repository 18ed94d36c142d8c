//! Runs the demo and the tutorials' two exercises (issue 7, items 13-15) in quick mode and
//! checks what they report: every record checked, both copies verified, both servers
//! served every client. Figures are printed, never asserted (the machine is shared).

mod common;

use common::{num, Output, EXERCISE_LIMIT};

/// Runs the demo or an exercise (see [`common::run`]).
fn run(name: &'static str) -> Output {
    common::run(name, EXERCISE_LIMIT)
}

#[test]
fn demo_checks_every_record_and_compares_with_python() {
    let o = run("demo");
    o.find_prefix("Rust (this workspace)");
    o.find_where("every record checked", |l| {
        l.contains("every one checked: none lost, none twice")
    });
    // Python's row is either figures or a clear "skipped".
    o.find_prefix("Python multiprocessing");
}

#[test]
fn copy_files_copies_twice_and_verifies() {
    let o = run("copy_files");
    o.find_prefix("one process");
    o.find_prefix("pool of ");
    o.find_prefix("speedup: ");
    o.find("verified: both copies equal the source, byte for byte");
    o.find_prefix("Why the speedup is what it is");
}

#[test]
fn socket_server_serves_every_client_both_ways() {
    let o = run("socket_server");
    // "echo server on 127.0.0.1; 60 clients, 12 at a time, 8 lines each"
    let header = o.rest_of("echo server on 127.0.0.1; ")[0];
    let requested = num(header.split_once(" clients").expect("N clients").0);
    assert!(requested > 0, "{}", o.text());
    // "a process per client: 60 clients served in 0.52 s": counted from the echoes.
    for prefix in ["a process per client: ", "a pool of 4 workers: "] {
        let served = o.rest_of(prefix)[0]
            .split_once(" clients served in ")
            .map(|(n, _)| num(n))
            .unwrap_or_else(|| panic!("no \"clients served\" after {prefix:?}\n{}", o.text()));
        assert_eq!(served, requested, "{prefix}\n{}", o.text());
    }
    // Table rows: name, conns, conns/s, p50, p99, peak procs, peak MB.
    let row = |name: &str| -> (u64, u64) {
        let row = &o.lines[o.find_prefix(name)];
        let cells: Vec<&str> = row[name.len()..].split_whitespace().collect();
        assert_eq!(cells.len(), 6, "{row}");
        (num(cells[0]), num(cells[4]))
    };
    let (conns, peak) = row("process per client");
    assert_eq!(conns, requested, "{}", o.text());
    // The first child is always sampled: the server and at least that child.
    assert!(peak >= 2, "{}", o.text());
    let (conns, peak) = row("pool of 4 workers");
    assert_eq!(conns, requested, "{}", o.text());
    // Sampled with all 4 workers started, and the pool never runs more: 4 plus the server.
    assert_eq!(peak, 5, "{}", o.text());
    o.find_prefix("A process per client, any problem? Yes");
}
