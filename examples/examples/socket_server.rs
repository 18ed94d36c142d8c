//! The tutorials' exercises 3 and 4 (练习题): "a concurrent socket server built on
//! processes" and "a new process for every client: is there a problem with that?",
//! answered with numbers.
//!
//! ```text
//! cargo run --release --example socket_server            # 400 clients, 40 at a time
//! cargo run --release --example socket_server -- --quick # 60 clients, 12 at a time
//! ```
//!
//! A TCP echo server on 127.0.0.1 serves the same load twice:
//! 1. **a process per client**: the server forks a `Process` for every connection it
//!    accepts; the parent closes its copy of the client socket and reaps children as
//!    they finish;
//! 2. **a pool**: a `Pool` of pre-started workers inherits the listening socket; each task
//!    accepts one client and serves it, and the server keeps one task per worker queued.
//!
//! The load client (threads of this program, loopback only, bounded in count and time)
//! opens the connections, sends lines and checks each echo. We print connections/s,
//! latency, the most server processes alive at once and their memory (PSS).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mp_pool::Pool;
use mp_process::Process;
use mp_queue::Queue;

/// Lines each client sends (and reads back).
const LINES: usize = 8;
/// The whole load must finish within this, or the program gives up (never hangs).
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Echoes lines until the client closes; returns the bytes echoed.
fn serve(stream: TcpStream) -> u64 {
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return 0,
    };
    let _ = out.set_nodelay(true); // small replies go out now, not after a delayed ACK
    let mut bytes = 0;
    for line in BufReader::new(stream).lines() {
        let Ok(mut line) = line else { break };
        line.push('\n');
        if out.write_all(line.as_bytes()).is_err() {
            break;
        }
        bytes += line.len() as u64;
    }
    bytes
}

/// The pool's task: accept one client on the inherited listening socket `fd`, serve it.
fn accept_and_serve(fd: i32) -> u64 {
    // SAFETY: `fd` is the listening socket this worker inherited from the server; we
    // borrow it for one accept and give it back with `into_raw_fd` (never closed here).
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let served = match listener.accept() {
        Ok((s, _)) => serve(s),
        Err(_) => 0,
    };
    let _ = listener.into_raw_fd();
    served
}

struct Figures {
    /// Clients whose every echo came back right (measured: one latency each).
    conns: usize,
    secs: f64,
    latencies: Vec<Duration>,
    peak_procs: usize,
    peak_pss_kb: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    let quick = examples::quick(); // `--quick` or MP_EXAMPLES_QUICK=1
    let (clients, concurrency) = if quick { (60, 12) } else { (400, 40) };
    println!("echo server on 127.0.0.1; {clients} clients, {concurrency} at a time, {LINES} lines each\n");

    let per_client = run(
        "a process per client",
        clients,
        concurrency,
        process_per_client,
    )?;
    let workers = 4;
    let pooled = run(
        &format!("a pool of {workers} workers"),
        clients,
        concurrency,
        move |l, stop, peak| pool_server(l, stop, peak, workers),
    )?;

    println!(
        "\n{:<24} {:>8} {:>9} {:>8} {:>8} {:>10} {:>10}",
        "server", "conns", "conns/s", "p50 ms", "p99 ms", "peak procs", "peak MB"
    );
    for (name, f) in [
        ("process per client", &per_client),
        ("pool of 4 workers", &pooled),
    ] {
        let (p50, p99) = (percentile(&f.latencies, 50), percentile(&f.latencies, 99));
        println!(
            "{name:<24} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>10} {:>10.1}",
            f.conns,
            f.conns as f64 / f.secs,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            f.peak_procs,
            f.peak_pss_kb as f64 / 1024.0
        );
    }
    println!(
        "\nA process per client, any problem? Yes: every connection pays a fork and an exit \
         (here {:.2} ms per connection against {:.2} ms), and the number of processes and \
         their memory grow with the number of clients connected at once ({} processes at \
         the peak against {}): a burst of clients becomes a burst of processes, until pids \
         or memory run out. A pool of pre-started workers bounds both; its limit is that at \
         most its size of clients is served at once while the rest wait in the accept \
         backlog, which suits short requests (for many idle connections, use threads or \
         an event loop in each worker).",
        per_client.secs * 1e3 / per_client.conns as f64,
        pooled.secs * 1e3 / pooled.conns as f64,
        per_client.peak_procs,
        pooled.peak_procs,
    );
    Ok(())
}

/// Starts a server with `serve_with` on a fresh listener, drives the load, stops it.
fn run(
    name: &str,
    clients: usize,
    concurrency: usize,
    serve_with: impl FnOnce(TcpListener, Arc<AtomicBool>, Arc<Peak>) -> std::io::Result<()>
        + Send
        + 'static,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Peak::default());
    let server = {
        let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
        std::thread::spawn(move || serve_with(listener, stop, peak))
    };
    // The load runs in its own process: were its client sockets in this process, every
    // server child forked here would inherit copies of them, and no child would ever see
    // its client hang up (the classic fork pitfall, as with pipes).
    let results: Queue<Result<Vec<u64>, String>> = Queue::new()?;
    let report = results.try_clone()?;
    let start = Instant::now();
    let mut load = Process::new(move || {
        let _ = report.put(drive_load(addr, clients, concurrency));
    });
    load.start()?;
    let latencies: Vec<Duration> = results
        .get_timeout(TIME_LIMIT + Duration::from_secs(5))??
        .into_iter()
        .map(Duration::from_nanos)
        .collect();
    load.join();
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr); // wakes an accept that waits for one more client
    server.join().map_err(|_| "the server thread panicked")??;
    let served = latencies.len(); // one per client that got every echo back
    println!("{name}: {served} clients served in {secs:.2} s");
    Ok(Figures {
        conns: served,
        secs,
        latencies,
        peak_procs: peak.procs.load(Ordering::Relaxed),
        peak_pss_kb: peak.pss_kb.load(Ordering::Relaxed) as u64,
    })
}

/// The load: `concurrency` threads open `clients` connections in all; returns each
/// client's latency (ns), or the first failure.
fn drive_load(
    addr: std::net::SocketAddr,
    clients: usize,
    concurrency: usize,
) -> Result<Vec<u64>, String> {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = Arc::clone(&next);
            std::thread::spawn(move || -> Result<Vec<u64>, String> {
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < clients {
                    if start.elapsed() > TIME_LIMIT {
                        return Err("the load did not finish within the time limit".into());
                    }
                    let t = Instant::now();
                    client(addr).map_err(|e| format!("client: {e}"))?;
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| "a load thread panicked".to_string())??,
        );
    }
    Ok(all)
}

/// One client: connect, send the lines, check every echo.
fn client(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    for i in 0..LINES {
        w.write_all(format!("hello {i} from {}\n", std::process::id()).as_bytes())?;
        line.clear();
        r.read_line(&mut line)?;
        if line.trim_end() != format!("hello {i} from {}", std::process::id()) {
            return Err(std::io::Error::other(format!("bad echo {line:?}")));
        }
    }
    Ok(())
}

/// The most server processes alive at once, and the most memory they used together.
#[derive(Default)]
struct Peak {
    procs: AtomicUsize,
    pss_kb: AtomicUsize,
}

impl Peak {
    fn sample(&self, pids: &[i32]) {
        let procs = pids.len() + 1; // the server itself
        let pss: u64 =
            pss_kb(std::process::id() as i32) + pids.iter().map(|&p| pss_kb(p)).sum::<u64>();
        self.procs.fetch_max(procs, Ordering::Relaxed);
        self.pss_kb.fetch_max(pss as usize, Ordering::Relaxed);
    }
}

/// Proportional set size of `pid` in KiB (shared pages split among their sharers).
fn pss_kb(pid: i32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Mode 1: fork a process per accepted client.
fn process_per_client(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    peak: Arc<Peak>,
) -> std::io::Result<()> {
    let mut children: Vec<Process> = Vec::new();
    let mut last_sample: Option<Instant> = None; // the first child is always sampled
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = stream?;
        let mut p = Process::new(move || {
            serve(stream);
        });
        p.start().map_err(std::io::Error::other)?;
        // The parent's copy of the client socket was moved into the closure, which the
        // parent drops now: only the child holds the connection.
        children.retain(|c| c.exitcode().is_none()); // reap the finished
        children.push(p);
        if last_sample.is_none_or(|t| t.elapsed() > Duration::from_millis(5)) {
            last_sample = Some(Instant::now());
            let pids: Vec<i32> = children.iter().filter_map(Process::pid).collect();
            peak.sample(&pids);
        }
    }
    for c in children {
        c.join();
    }
    Ok(())
}

/// Mode 2: a pool of pre-started workers inherits the listener; one task per worker is
/// always queued, each accepting and serving one client.
fn pool_server(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    peak: Arc<Peak>,
    workers: usize,
) -> std::io::Result<()> {
    // Forked now, so the workers inherit `listener`. Tasks and results are tiny: small
    // rings keep the pool's shared memory out of the memory comparison.
    let pool = Pool::builder()
        .processes(workers)
        .ring_capacity(64 << 10)
        .build()
        .map_err(std::io::Error::other)?;
    let fd = listener.as_raw_fd();
    let mut tasks: std::collections::VecDeque<_> = (0..workers)
        .map(|_| pool.apply_async(accept_and_serve, fd))
        .collect::<Result<_, _>>()
        .map_err(std::io::Error::other)?;
    // Sampled once with every worker started, however short the load.
    peak.sample(&pool.worker_pids());
    let mut last_sample = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let Some(t) = tasks.pop_front() else { break };
        if !t.wait_timeout(Duration::from_millis(5)) {
            tasks.push_back(t);
        } else {
            tasks.push_back(
                pool.apply_async(accept_and_serve, fd)
                    .map_err(std::io::Error::other)?,
            );
        }
        if last_sample.elapsed() > Duration::from_millis(5) {
            last_sample = Instant::now();
            peak.sample(&pool.worker_pids());
        }
    }
    // Workers blocked in accept for clients that will never come: dropping the pool
    // terminates them.
    drop(pool);
    Ok(())
}

fn percentile(v: &[Duration], p: usize) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get((v.len().saturating_sub(1)) * p / 100)
        .copied()
        .unwrap_or_default()
}
