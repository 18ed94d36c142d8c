//! The pool: worker processes, each with its own task ring, one shared result ring, and
//! one supervisor thread in the parent that reads results, refills the workers and
//! replaces the dead.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_queue::{ByteQueue, GetError, Message, PutError, Queue, ReadGuard};
use parking_lot::Mutex;

use crate::error::{PoolError, TaskError};
use crate::job::{ItemsJob, Job};
use crate::result::{AsyncResult, Imap, MapResult, Store};
use crate::task::{
    self, Trampoline, WorkerSetup, EXIT, RESULT_HEADER, STATUS_FAILED, STATUS_OK, STATUS_TOO_LARGE,
};

/// How often the supervisor looks for dead workers when no result wakes it sooner.
const TICK: Duration = Duration::from_millis(10);

/// Most results the supervisor settles under one lock.
const RESULT_BATCH: usize = 64;

/// Options for a [`Pool`]: [`Pool::builder`].
///
/// # Examples
///
/// ```
/// # mp_process::hook!();
/// use mp_pool::Pool;
///
/// fn setup() { /* runs once in each worker */ }
///
/// let pool = Pool::builder().processes(2).initializer(setup).maxtasksperchild(100).build()?;
/// assert_eq!(pool.processes(), 2);
/// # Ok::<(), mp_pool::PoolError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    processes: Option<usize>,
    initializer: Option<fn()>,
    maxtasksperchild: u64,
    start_method: Option<StartMethod>,
    ring_capacity: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            processes: None,
            initializer: None,
            maxtasksperchild: 0,
            start_method: None,
            ring_capacity: 8 << 20,
        }
    }
}

impl Builder {
    /// Worker processes (default: [`mp_process::cpu_count`]).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs once in each worker before its first task (Python's `initializer`).
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// A worker leaves after this many tasks (chunks) and a fresh one replaces it (Python's
    /// `maxtasksperchild`; 0, the default, means never).
    pub fn maxtasksperchild(mut self, n: u64) -> Self {
        self.maxtasksperchild = n;
        self
    }

    /// How workers start (default: [`mp_process::get_start_method`]). Spawn and
    /// forkserver need the hook: `mp_process::init()` in `main`, or `mp_process::hook!()`.
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.start_method = Some(m);
        self
    }

    /// Bytes of each worker's task ring and of the result ring (default 8 MiB): the
    /// largest chunk of serialized arguments or results.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        Pool::start(self)
    }
}

/// A pool of worker processes: Python's `multiprocessing.Pool`.
///
/// Tasks are plain functions `fn(A) -> R` (non-capturing closures too) whose arguments
/// and results are rkyv [`Message`]s; they run with every start method. Dropping the pool
/// terminates it, as Python's `with Pool() as p:` does.
///
/// Beyond Python: a task that panics fails alone ([`TaskError::Panicked`]) and its worker
/// goes on; a worker that dies fails only the tasks it was running
/// ([`TaskError::WorkerDied`] with its pid and exit code) and is replaced.
///
/// # Examples
///
/// ```
/// # mp_process::hook!();
/// use mp_pool::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(2)?;
/// let squares: Vec<u64> = pool
///     .map(square, 0..10, None)?
///     .into_iter()
///     .collect::<Result<_, _>>()?;
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// assert_eq!(pool.apply(|s: String| s.len(), "four".to_string()), Ok(4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    supervisor: Option<JoinHandle<()>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes())
            .field("workers", &self.worker_pids())
            .finish()
    }
}

struct Shared {
    state: Mutex<State>,
    /// Results from every worker; only the supervisor reads it.
    results: ByteQueue,
    key: u64,
    cfg: Builder,
    method: StartMethod,
    processes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    Run,
    Closed,
    Terminated,
}

struct State {
    running: Running,
    join_requested: bool,
    workers: Vec<Worker>,
    pending: VecDeque<Pending>,
    jobs: HashMap<u32, Arc<dyn Job>>,
    /// Chunks each job still waits for.
    remaining: HashMap<u32, u32>,
    next_job: u32,
    /// Mean time a worker spends per chunk (ns): decides how deep to prefetch.
    ema_ns: f64,
}

struct Worker {
    process: Process,
    pid: i32,
    tasks: ByteQueue,
    /// Chunks written to its ring and not yet answered, oldest first, with when they
    /// were written.
    in_flight: VecDeque<(u64, Instant)>,
    last_result: Instant,
    sent: u64,
}

enum Pending {
    /// A chunk of a job, not yet written anywhere.
    Chunk(u64),
    /// A chunk taken back from a dead worker's ring, as written.
    Raw(u64, Vec<u8>),
}

/// Work to finish after the state lock is released (deliveries run user callbacks).
type Later = Vec<(Arc<dyn Job>, u32, TaskError)>;

fn chunk_id(job: u32, index: u32) -> u64 {
    (u64::from(job) << 32) | u64::from(index)
}

fn split(chunk: u64) -> (u32, u32) {
    ((chunk >> 32) as u32, chunk as u32)
}

impl Pool {
    /// A pool of `processes` workers with default options.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Builder::default().processes(processes).build()
    }

    /// Options: processes, initializer, maxtasksperchild, start method, ring capacity.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start(cfg: Builder) -> Result<Pool, PoolError> {
        let processes = cfg.processes.unwrap_or_else(mp_process::cpu_count);
        if processes == 0 {
            return Err(PoolError::Start("a pool needs at least one process".into()));
        }
        let results = ByteQueue::with(
            Queue::builder()
                .capacity(cfg.ring_capacity)
                .processes(processes * 4 + 16),
            None,
        )
        .map_err(|e| PoolError::Start(e.to_string()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                running: Running::Run,
                join_requested: false,
                workers: Vec::with_capacity(processes),
                pending: VecDeque::new(),
                jobs: HashMap::new(),
                remaining: HashMap::new(),
                next_job: 0,
                ema_ns: f64::INFINITY,
            }),
            results,
            key: random_key(),
            method: cfg
                .start_method
                .unwrap_or_else(mp_process::get_start_method),
            cfg,
            processes,
        });
        for _ in 0..processes {
            let w = shared.start_worker()?;
            shared.state.lock().workers.push(w);
        }
        let s = Arc::clone(&shared);
        let supervisor = std::thread::Builder::new()
            .name("mp-pool supervisor".into())
            .spawn(move || s.supervise())
            .map_err(|e| PoolError::Start(format!("cannot start the supervisor thread: {e}")))?;
        Ok(Pool {
            shared,
            supervisor: Some(supervisor),
        })
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.shared.processes
    }

    /// The pids of the current workers (they change when workers die or are recycled).
    pub fn worker_pids(&self) -> Vec<i32> {
        self.shared
            .state
            .lock()
            .workers
            .iter()
            .map(|w| w.pid)
            .collect()
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R, TaskError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        self.apply_async(f, arg)
            .map_err(|e| TaskError::Failed(e.to_string()))?
            .get()
    }

    /// Starts `f(arg)` in a worker (Python's `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let store = Store::new(1);
        self.submit(
            task::run_map::<A, R>,
            f as usize,
            vec![arg],
            1,
            Arc::clone(&store),
        )?;
        Ok(AsyncResult { store })
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` (given the result) and
    /// `error_callback` (given the error). They run in the pool's supervisor thread, in
    /// this process, before the result is marked ready; keep them short.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::sync::mpsc::channel;
    /// use mp_pool::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let (tx, rx) = channel();
    /// let tx2 = tx.clone();
    /// pool.apply_async_with(|x: u32| x + 1, 1, move |r: &u32| tx.send(Ok(*r)).unwrap(),
    ///                       move |e| tx2.send(Err(e.to_string())).unwrap())?;
    /// assert_eq!(rx.recv()?, Ok(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: impl FnOnce(&R) + Send + 'static,
        error_callback: impl FnOnce(&TaskError) + Send + 'static,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let store =
            Store::with_callbacks(1, Some(Box::new(callback)), Some(Box::new(error_callback)));
        self.submit(
            task::run_map::<A, R>,
            f as usize,
            vec![arg],
            1,
            Arc::clone(&store),
        )?;
        Ok(AsyncResult { store })
    }

    /// `f` over every item, results in order (Python's `map`). `chunksize` `None` means
    /// Python's default: about four chunks per worker. One `Result` per item: a panic or a
    /// dead worker fails only its own items.
    pub fn map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        Ok(self.map_async(f, items, chunksize)?.get())
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    pub fn map_async<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let items: Vec<A> = items.into_iter().collect();
        let cs = chunksize.unwrap_or_else(|| self.default_chunksize(items.len()));
        let store = Store::new(items.len());
        self.submit(
            task::run_map::<A, R>,
            f as usize,
            items,
            cs,
            Arc::clone(&store),
        )?;
        Ok(MapResult { store })
    }

    /// [`map`](Self::map) drawing a progress bar on stderr while it waits (cargo feature
    /// `progress`; no extra dependency). The bar is redrawn at most 10 times a second.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// let out = pool.map_progress(|x: u32| x * 2, 0..100, None)?;
    /// assert_eq!(out.len(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn map_progress<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        use std::io::Write;
        let r = self.map_async(f, items, chunksize)?;
        let draw = |done: usize, total: usize| {
            let filled = (done * 30).checked_div(total).unwrap_or(30);
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            let _ = std::io::stderr().flush();
        };
        while !r.wait_timeout(Duration::from_millis(100)) {
            let (done, total) = r.progress();
            draw(done, total);
        }
        let (done, total) = r.progress();
        draw(done, total);
        eprintln!();
        Ok(r.get())
    }

    /// `f` over every item, yielding results in order as they are ready (Python's `imap`;
    /// `chunksize` defaults to 1, as Python's).
    pub fn imap<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_with(f, items, chunksize, true)
    }

    /// Like [`imap`](Self::imap), yielding results in the order they finish (Python's
    /// `imap_unordered`).
    pub fn imap_unordered<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_with(f, items, chunksize, false)
    }

    fn imap_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let items: Vec<A> = items.into_iter().collect();
        let store = Store::new(items.len());
        self.submit(
            task::run_map::<A, R>,
            f as usize,
            items,
            chunksize.unwrap_or(1),
            Arc::clone(&store),
        )?;
        Ok(Imap {
            store,
            ordered,
            yielded: 0,
        })
    }

    /// `f(a, b)` for every pair, results in order (Python's `starmap`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.starmap(|a: u32, b: u32| a.pow(b), vec![(2, 3), (3, 2)], None)?;
    /// assert_eq!(r, [Ok(8), Ok(9)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap<A, B, R, I>(
        &self,
        f: fn(A, B) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        A: Message + Send + 'static,
        B: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = (A, B)>,
    {
        Ok(self.starmap_async(f, items, chunksize)?.get())
    }

    /// [`starmap`](Self::starmap) without waiting (Python's `starmap_async`).
    pub fn starmap_async<A, B, R, I>(
        &self,
        f: fn(A, B) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        B: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = (A, B)>,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let cs = chunksize.unwrap_or_else(|| self.default_chunksize(items.len()));
        let store = Store::new(items.len());
        self.submit(
            task::run_star2::<A, B, R>,
            f as usize,
            items,
            cs,
            Arc::clone(&store),
        )?;
        Ok(MapResult { store })
    }

    /// `f(a, b, c)` for every triple, results in order (`starmap` with three arguments).
    pub fn starmap3<A, B, C, R, I>(
        &self,
        f: fn(A, B, C) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        A: Message + Send + 'static,
        B: Message + Send + 'static,
        C: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = (A, B, C)>,
    {
        let items: Vec<(A, B, C)> = items.into_iter().collect();
        let cs = chunksize.unwrap_or_else(|| self.default_chunksize(items.len()));
        let store = Store::new(items.len());
        self.submit(
            task::run_star3::<A, B, C, R>,
            f as usize,
            items,
            cs,
            Arc::clone(&store),
        )?;
        Ok(MapResult { store }.get())
    }

    /// Python's default chunksize: `len / (4 * processes)`, rounded up.
    fn default_chunksize(&self, len: usize) -> usize {
        len.div_ceil(4 * self.shared.processes).max(1)
    }

    fn submit<A, R>(
        &self,
        tramp: Trampoline,
        func: usize,
        items: Vec<A>,
        chunksize: usize,
        store: Arc<Store<R>>,
    ) -> Result<(), PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        if items.is_empty() {
            return self.check_running();
        }
        let job: Arc<dyn Job> = Arc::new(ItemsJob::new(items, chunksize, tramp, func, store));
        let later = {
            let mut st = self.shared.state.lock();
            if st.running != Running::Run {
                return Err(PoolError::NotRunning);
            }
            let id = st.next_job;
            st.next_job = st.next_job.wrapping_add(1) % u32::MAX; // u32::MAX is never a job: EXIT
            let n = job.chunks();
            st.jobs.insert(id, job);
            st.remaining.insert(id, n);
            st.pending
                .extend((0..n).map(|i| Pending::Chunk(chunk_id(id, i))));
            let mut later = Later::new();
            self.shared.dispatch(&mut st, &mut later);
            later
        };
        run_later(later);
        Ok(())
    }

    fn check_running(&self) -> Result<(), PoolError> {
        match self.shared.state.lock().running {
            Running::Run => Ok(()),
            _ => Err(PoolError::NotRunning),
        }
    }

    /// No more work is accepted; the workers leave once the submitted work is done
    /// (Python's `close`).
    pub fn close(&self) {
        let mut st = self.shared.state.lock();
        if st.running == Running::Run {
            st.running = Running::Closed;
        }
    }

    /// Stops the workers now (SIGTERM); every unfinished task fails with
    /// [`TaskError::Terminated`] (Python's `terminate`).
    pub fn terminate(&self) {
        let (jobs, workers) = {
            let mut st = self.shared.state.lock();
            st.running = Running::Terminated;
            st.pending.clear();
            st.remaining.clear();
            let jobs: Vec<Arc<dyn Job>> = st.jobs.drain().map(|(_, j)| j).collect();
            let workers: Vec<Worker> = st.workers.drain(..).collect();
            (jobs, workers)
        };
        for w in &workers {
            let _ = w.process.terminate();
        }
        for w in &workers {
            if w.process.join_timeout(Duration::from_secs(2)).is_none() {
                let _ = w.process.kill();
                w.process.join();
            }
        }
        for j in jobs {
            j.fail_rest(&TaskError::Terminated);
        }
    }

    /// Waits for the workers to finish the submitted work and exit (Python's `join`);
    /// needs [`close`](Self::close) or [`terminate`](Self::terminate) first.
    pub fn join(&mut self) -> Result<(), PoolError> {
        {
            let mut st = self.shared.state.lock();
            if st.running == Running::Run {
                return Err(PoolError::StillRunning);
            }
            st.join_requested = true;
        }
        if let Some(t) = self.supervisor.take() {
            let _ = t.join();
        }
        let workers: Vec<Worker> = self.shared.state.lock().workers.drain(..).collect();
        for w in workers {
            w.process.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates, as leaving Python's `with Pool() as p:` block does.
    fn drop(&mut self) {
        if self.supervisor.is_some() {
            self.terminate();
            let _ = self.join();
        }
    }
}

fn run_later(later: Later) {
    for (job, index, e) in later {
        job.fail(index, e);
    }
}

fn random_key() -> u64 {
    let mut k = [0u8; 8];
    // SAFETY: getrandom writes at most `k.len()` bytes into `k`.
    let n = unsafe { libc::getrandom(k.as_mut_ptr().cast(), k.len(), 0) };
    let mut key = u64::from_le_bytes(k);
    if n != 8 {
        // No randomness: still distinct per pool, enough to catch corruption.
        key = std::process::id() as u64
            ^ Instant::now().elapsed().as_nanos() as u64
            ^ 0x9e37_79b9_7f4a_7c15;
    }
    key
}

impl Shared {
    /// Starts one worker process with a fresh task ring.
    fn start_worker(&self) -> Result<Worker, PoolError> {
        let err = |e: &dyn fmt::Display| PoolError::Start(e.to_string());
        let tasks = ByteQueue::with(
            Queue::builder()
                .capacity(self.cfg.ring_capacity)
                .maxsize(256)
                .processes(8),
            None,
        )
        .map_err(|e| err(&e))?;
        let kind = match self.method {
            StartMethod::Fork => "ForkPoolWorker",
            StartMethod::Spawn => "SpawnPoolWorker",
            StartMethod::Forkserver => "ForkServerPoolWorker",
        };
        let builder = Process::builder()
            .name(format!("{kind}-{}", next_worker_number()))
            .daemon(true)
            .start_method(self.method);
        let initializer = self.cfg.initializer.map(|f| task::offset_of(f as usize));
        let mut process = if self.method == StartMethod::Fork {
            let setup = WorkerSetup {
                tasks: tasks.try_clone().map_err(|e| err(&e))?,
                results: self.results.try_clone().map_err(|e| err(&e))?,
                key: self.key,
                initializer,
                maxtasks: self.cfg.maxtasksperchild,
            };
            builder.target(move || std::process::exit(task::worker_loop(setup)))
        } else {
            let (t, r) = (tasks.handle(), self.results.handle());
            let args = WorkerArgs {
                tasks: t.to_string(),
                results: r.to_string(),
                key: self.key,
                initializer,
                maxtasks: self.cfg.maxtasksperchild,
            };
            builder
                .pass_fd(t.fd as RawFd)
                .pass_fd(r.fd as RawFd)
                .entry(worker_entry, &args)
                .map_err(|e| err(&e))?
        };
        process.start().map_err(|e| err(&e))?;
        let pid = process.pid().unwrap_or(0);
        Ok(Worker {
            process,
            pid,
            tasks,
            in_flight: VecDeque::new(),
            last_result: Instant::now(),
            sent: 0,
        })
    }

    /// How many chunks a worker may hold: one while tasks take long (so an idle worker
    /// takes the next, as with Python's shared queue), more when they are short (so
    /// tiny tasks do not wait a round trip each).
    fn depth(st: &State) -> usize {
        if st.ema_ns.is_finite() {
            (2_000_000.0 / st.ema_ns.max(1.0)).clamp(1.0, 64.0) as usize
        } else {
            1
        }
    }

    /// Writes pending chunks into workers with room, least loaded first.
    fn dispatch(&self, st: &mut State, later: &mut Later) {
        let depth = Self::depth(st);
        let max = self.cfg.maxtasksperchild;
        while let Some(p) = st.pending.front() {
            let Some(wi) = (0..st.workers.len())
                .filter(|&i| {
                    let w = &st.workers[i];
                    w.in_flight.len() < depth && (max == 0 || w.sent < max)
                })
                .min_by_key(|&i| st.workers[i].in_flight.len())
            else {
                return;
            };
            let id = match p {
                Pending::Chunk(id) | Pending::Raw(id, _) => *id,
            };
            let (job_id, index) = split(id);
            let Some(job) = st.jobs.get(&job_id).cloned() else {
                st.pending.pop_front(); // its job was failed or terminated
                continue;
            };
            let w = &st.workers[wi];
            let written = match p {
                Pending::Chunk(_) => {
                    let (tramp, func) = job.code();
                    job.write(
                        index,
                        &task::task_header(self.key, id, tramp, func),
                        &w.tasks,
                    )
                }
                Pending::Raw(_, bytes) => w.tasks.try_put(bytes),
            };
            match written {
                Ok(()) => {
                    st.pending.pop_front();
                    let w = &mut st.workers[wi];
                    w.in_flight.push_back((id, Instant::now()));
                    w.sent += 1;
                }
                Err(PutError::Full(())) => return, // this worker's ring is full of bytes: later
                Err(e) => {
                    st.pending.pop_front();
                    let e = match e {
                        PutError::TooLarge { len, max, .. } => TaskError::TooLarge { len, max },
                        e => TaskError::Failed(e.to_string()),
                    };
                    Self::chunk_done(st, job_id);
                    later.push((job, index, e));
                }
            }
        }
    }

    /// Counts chunk of `job_id` as answered; forgets the job after its last chunk.
    fn chunk_done(st: &mut State, job_id: u32) {
        if let Some(r) = st.remaining.get_mut(&job_id) {
            *r -= 1;
            if *r == 0 {
                st.remaining.remove(&job_id);
                st.jobs.remove(&job_id);
            }
        }
    }

    /// The supervisor thread: results, dead workers, and the end of the pool.
    fn supervise(&self) {
        let mut last_check = Instant::now();
        let mut batch = Vec::with_capacity(RESULT_BATCH);
        loop {
            match self.results.get_ref_timeout(TICK) {
                Ok(rec) => {
                    // Take whatever else is ready too: one lock and one dispatch per batch.
                    batch.push(rec);
                    while batch.len() < RESULT_BATCH {
                        match self.results.try_get_ref() {
                            Ok(rec) => batch.push(rec),
                            Err(_) => break,
                        }
                    }
                    self.on_results(&batch);
                    batch.clear(); // frees the records' space in the ring
                }
                Err(GetError::Timeout | GetError::Empty) => {}
                Err(_) => std::thread::sleep(TICK), // corrupted ring: keep supervising workers
            }
            if last_check.elapsed() >= TICK {
                last_check = Instant::now();
                self.check_workers();
            }
            let mut st = self.state.lock();
            if st.running == Running::Terminated {
                return;
            }
            if st.join_requested && st.jobs.is_empty() {
                for w in &st.workers {
                    let _ = w.tasks.put(&task::task_header(0, EXIT, 0, 0));
                }
                st.workers.iter_mut().for_each(|w| w.sent = u64::MAX);
                return;
            }
        }
    }

    /// Settles a batch of result records: bookkeeping and refilling the workers under one
    /// lock, then delivery (which may run user callbacks) outside it.
    fn on_results(&self, recs: &[ReadGuard<'_>]) {
        let mut later = Later::new();
        let mut deliveries = Vec::with_capacity(recs.len());
        {
            let mut st = self.state.lock();
            let now = Instant::now();
            for rec in recs {
                let Some((chunk, status)) = task::parse_result(rec) else {
                    continue; // not a result record: nothing to deliver
                };
                Self::answered(&mut st, chunk, now);
                let (job_id, index) = split(chunk);
                if let Some(job) = st.jobs.get(&job_id).cloned() {
                    Self::chunk_done(&mut st, job_id);
                    deliveries.push((job, index, status, &rec[RESULT_HEADER..]));
                }
            }
            self.dispatch(&mut st, &mut later);
        }
        for (job, index, status, body) in deliveries {
            match status {
                STATUS_OK => job.deliver(index, body),
                STATUS_TOO_LARGE => {
                    let (len, max) = mp_queue::access::<(u64, u64)>(body)
                        .map(|t| (t.0.to_native() as usize, t.1.to_native() as usize))
                        .unwrap_or((0, 0));
                    job.fail(index, TaskError::TooLarge { len, max });
                }
                STATUS_FAILED => {
                    let msg = mp_queue::access::<String>(body)
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    job.fail(index, TaskError::Failed(msg));
                }
                _ => job.fail(index, TaskError::Failed("unknown result status".into())),
            }
        }
        run_later(later);
    }

    /// Takes `chunk` off its worker's in-flight list and updates the time per chunk.
    fn answered(st: &mut State, chunk: u64, now: Instant) {
        for w in st.workers.iter_mut() {
            if let Some(pos) = w.in_flight.iter().position(|&(c, _)| c == chunk) {
                let (_, sent_at) = w.in_flight.remove(pos).unwrap_or((chunk, now));
                let began = sent_at.max(w.last_result);
                w.last_result = now;
                let took = now.duration_since(began).as_nanos() as f64;
                st.ema_ns = if st.ema_ns.is_finite() {
                    0.9 * st.ema_ns + 0.1 * took
                } else {
                    took
                };
                return;
            }
        }
    }

    /// Reaps dead workers: their finished results are read first, their untaken chunks
    /// go back to the front of the queue, the chunk they were running fails, and a
    /// replacement starts.
    fn check_workers(&self) {
        let dead: Vec<usize> = {
            let st = self.state.lock();
            (0..st.workers.len())
                .filter(|&i| st.workers[i].process.exitcode().is_some())
                .collect()
        };
        if dead.is_empty() {
            return;
        }
        // Everything the dead finished is already in the result ring: read it all first.
        loop {
            let batch: Vec<_> = std::iter::from_fn(|| self.results.try_get_ref().ok())
                .take(RESULT_BATCH)
                .collect();
            if batch.is_empty() {
                break;
            }
            self.on_results(&batch);
        }
        let mut later = Later::new();
        {
            let mut st = self.state.lock();
            for &i in dead.iter().rev() {
                let w = st.workers.swap_remove(i);
                let exitcode = w.process.exitcode().unwrap_or(0);
                let mut untaken = Vec::new();
                while let Ok(rec) = w.tasks.try_get_ref() {
                    if let Some(id) = task::task_chunk(&rec).filter(|&c| c != EXIT) {
                        untaken.push(Pending::Raw(id, rec.to_vec()));
                    }
                }
                let back: Vec<u64> = untaken
                    .iter()
                    .map(|p| match p {
                        Pending::Chunk(id) | Pending::Raw(id, _) => *id,
                    })
                    .collect();
                for p in untaken.into_iter().rev() {
                    st.pending.push_front(p);
                }
                for (id, _) in w.in_flight.iter().filter(|(id, _)| !back.contains(id)) {
                    let (job_id, index) = split(*id);
                    if let Some(job) = st.jobs.get(&job_id).cloned() {
                        Self::chunk_done(&mut st, job_id);
                        later.push((
                            job,
                            index,
                            TaskError::WorkerDied {
                                pid: w.pid,
                                exitcode,
                            },
                        ));
                    }
                }
            }
            let wanted = match st.running {
                Running::Terminated => 0,
                Running::Closed if st.join_requested && st.jobs.is_empty() => 0,
                _ => self.processes,
            };
            while st.workers.len() < wanted {
                match self.start_worker() {
                    Ok(w) => st.workers.push(w),
                    Err(e) => {
                        eprintln!("mp-pool: cannot start a replacement worker: {e}");
                        break;
                    }
                }
            }
            self.dispatch(&mut st, &mut later);
        }
        run_later(later);
    }
}

fn next_worker_number() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Start arguments of a spawned or forkserver worker.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct WorkerArgs {
    tasks: String,
    results: String,
    key: u64,
    initializer: Option<i64>,
    maxtasks: u64,
}

/// The entry of a spawned or forkserver worker.
fn worker_entry(args: WorkerArgs) {
    let attach = |h: &str| -> Option<ByteQueue> { ByteQueue::from_handle(h.parse().ok()?).ok() };
    let (Some(tasks), Some(results)) = (attach(&args.tasks), attach(&args.results)) else {
        eprintln!("mp-pool worker: cannot attach to the pool's rings");
        std::process::exit(3);
    };
    let code = task::worker_loop(WorkerSetup {
        tasks,
        results,
        key: args.key,
        initializer: args.initializer,
        maxtasks: args.maxtasks,
    });
    std::process::exit(code);
}
