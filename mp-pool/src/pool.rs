//! The pool's public face: [`Builder`] and [`Pool`] with Python's methods. The parent's
//! machinery (shared state, the supervisor thread, starting workers) is in
//! `supervisor.rs`; the wire to the workers and their loop in `task.rs`.
//!
//! Shape: worker processes, each with its own task ring; one result ring they all write;
//! one supervisor thread here that reads results, refills the workers and replaces the
//! dead.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp_process::StartMethod;
use mp_queue::{ByteQueue, Message, Queue};
use parking_lot::Mutex;

use crate::error::{PoolError, TaskError};
use crate::job::{ItemsJob, Job};
use crate::result::{AsyncResult, Callback, ErrorCallback, Imap, MapResult, Store};
use crate::supervisor::{chunk_id, run_later, Later, Running, Shared, State, Worker};
use crate::task::{self, Trampoline};

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
    pub(crate) processes: Option<usize>,
    pub(crate) initializer: Option<fn()>,
    pub(crate) maxtasksperchild: u64,
    pub(crate) start_method: Option<StartMethod>,
    pub(crate) ring_capacity: usize,
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
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::builder().processes(3).build()?;
    /// assert_eq!(pool.processes(), 3);
    /// assert_eq!(pool.worker_pids().len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs once in each worker before its first task (Python's `initializer`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// static READY: AtomicBool = AtomicBool::new(false);
    /// fn setup() {
    ///     READY.store(true, Ordering::Relaxed);
    /// }
    ///
    /// let pool = mp_pool::Pool::builder().processes(1).initializer(setup).build()?;
    /// assert_eq!(pool.apply(|_: u32| READY.load(Ordering::Relaxed), 0), Ok(true));
    /// assert!(!READY.load(Ordering::Relaxed)); // it ran in the worker, not here
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// A worker leaves after this many tasks (chunks) and a fresh one replaces it (Python's
    /// `maxtasksperchild`; 0, the default, means never).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::builder().processes(1).maxtasksperchild(1).build()?;
    /// // One chunk per worker: each item runs in a fresh process.
    /// let pids = pool.map(|_: u32| std::process::id(), 0..3, Some(1))?;
    /// let pids: Vec<u32> = pids.into_iter().collect::<Result<_, _>>()?;
    /// assert!(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxtasksperchild(mut self, n: u64) -> Self {
        self.maxtasksperchild = n;
        self
    }

    /// How workers start (default: [`mp_process::get_start_method`]). Spawn and
    /// forkserver need the hook: `mp_process::init()` in `main`, or `mp_process::hook!()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_process::StartMethod;
    ///
    /// let pool = mp_pool::Pool::builder().processes(1).start_method(StartMethod::Spawn).build()?;
    /// assert_eq!(pool.apply(|x: u32| x * 3, 5), Ok(15));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.start_method = Some(m);
        self
    }

    /// Bytes of each worker's task ring and of the result ring (default 8 MiB): the
    /// largest chunk of serialized arguments or results.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::builder().processes(1).ring_capacity(64 << 10).build()?;
    /// assert_eq!(pool.apply(|v: Vec<u8>| v.len(), vec![0; 1000]), Ok(1000));
    /// let r = pool.apply(|v: Vec<u8>| v.len(), vec![0; 1 << 20]); // 1 MiB of arguments
    /// assert!(matches!(r, Err(TaskError::TooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// Starts the workers.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::builder().processes(2).build()?;
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// let none = Pool::builder().processes(0).build();
    /// assert!(matches!(none, Err(PoolError::Start(_)))); // a pool needs a process
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
/// goes on; a worker that dies fails only the chunk it was running
/// ([`TaskError::WorkerDied`] with its pid and exit code) and is replaced.
///
/// A `Pool` is `Send` and `Sync`: threads may submit to one pool at once, as to Python's.
///
/// ```
/// # mp_process::hook!();
/// let pool = mp_pool::Pool::new(2)?;
/// std::thread::scope(|s| {
///     for t in 0..4u64 {
///         let pool = &pool;
///         s.spawn(move || assert_eq!(pool.apply(|x: u64| x + 1, t), Ok(t + 1)));
///     }
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// Disconnects when the supervisor thread ends (its sender is dropped, even by a
    /// panic): what `join_timeout` waits on. In a mutex only so that `Pool` is `Sync`
    /// (a `Receiver` is not); `join_timeout` has `&mut self` and takes it without locking.
    supervisor_done: Mutex<Receiver<()>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes())
            .field("workers", &self.worker_pids())
            .finish()
    }
}

impl Pool {
    /// A pool of `processes` workers with default options.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.apply(|x: u32| x + 1, 1), Ok(2));
    /// assert!(matches!(Pool::new(0), Err(PoolError::Start(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Builder::default().processes(processes).build()
    }

    /// Options: processes, initializer, maxtasksperchild, start method, ring capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::builder().processes(1).maxtasksperchild(10).build()?;
    /// assert_eq!(pool.apply(|x: i64| -x, 4), Ok(-4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let key = ipc_core::segment::random_u64().map_err(|e| {
            PoolError::Start(format!("no randomness for the pool's task check key: {e}"))
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                running: Running::Run,
                start_retry_at: None,
                workers: Vec::with_capacity(processes),
                pending: VecDeque::new(),
                jobs: HashMap::new(),
                remaining: HashMap::new(),
                next_job: 0,
                ema_ns: f64::INFINITY,
                early_deaths: 0,
                ping_due: false,
                next_ping: 0,
            }),
            results,
            key,
            method: cfg
                .start_method
                .unwrap_or_else(mp_process::get_start_method),
            cfg,
            processes,
        });
        // Dropping a `Process` neither stops nor reaps it: a start that fails stops the
        // workers started so far.
        let abandon = |e: PoolError| {
            let workers = std::mem::take(&mut shared.state.lock().workers);
            for w in workers {
                let _ = w.process.kill();
                w.process.join();
            }
            e
        };
        for _ in 0..processes {
            let w = shared.start_worker().map_err(abandon)?;
            shared.state.lock().workers.push(w);
        }
        let s = Arc::clone(&shared);
        let (done_tx, supervisor_done) = mpsc::channel::<()>();
        let supervisor = std::thread::Builder::new()
            .name("mp-pool supervisor".into())
            .spawn(move || {
                let _done = done_tx; // dropped when this thread ends, however it ends
                s.supervise()
            })
            .map_err(|e| {
                abandon(PoolError::Start(format!(
                    "cannot start the supervisor thread: {e}"
                )))
            })?;
        Ok(Pool {
            shared,
            supervisor: Some(supervisor),
            supervisor_done: Mutex::new(supervisor_done),
        })
    }

    /// The number of worker processes.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// assert_eq!(pool.processes(), 2);
    /// pool.terminate();
    /// assert_eq!(pool.processes(), 2); // the number asked for, even with no worker left
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn processes(&self) -> usize {
        self.shared.processes
    }

    /// The pids of the current workers (they change when workers die or are recycled).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// let pool = mp_pool::Pool::new(2)?;
    /// let pids = pool.worker_pids();
    /// assert_eq!(pids.len(), 2);
    /// assert!(pids.contains(&pool.apply(|_: u32| std::process::id() as i32, 0)?));
    /// pool.terminate();
    /// assert!(pool.worker_pids().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.shared
            .state
            .lock()
            .workers
            .iter()
            .map(|w| w.pid)
            .collect()
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`). On a pool
    /// that is closed or terminated, [`TaskError::Failed`] says so (Python raises
    /// `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1)?;
    /// assert_eq!(pool.apply(|x: u32| x + 1, 1), Ok(2));
    /// let r = pool.apply(|x: u32| 10 / x, 0); // panics in the worker, which goes on
    /// assert!(matches!(r, Err(TaskError::Panicked(_))));
    /// pool.close();
    /// assert!(matches!(pool.apply(|x: u32| x + 1, 1), Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(|x: u32| x * 2, 21)?;
    /// assert_eq!(r.get(), Ok(42));
    /// pool.close();
    /// assert!(matches!(pool.apply_async(|x: u32| x * 2, 1), Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        self.apply_inner(f, arg, None, None)
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` (given the result) and
    /// `error_callback` (given the error). They run in this process before the result is
    /// marked ready, most often in the pool's supervisor thread; keep them short. An
    /// `error_callback` may also run in the thread that calls this (a record too large
    /// for the worker's ring), or in the one that terminates or drops the pool, so it
    /// must not take a lock those threads hold. A callback that panics is reported on
    /// stderr; the result is delivered all the same and the pool goes on. A callback may
    /// submit more work, but not wait, without a timeout, for a result of this pool: it
    /// would wait for the thread it runs on, so it panics saying so.
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
        self.apply_inner(
            f,
            arg,
            Some(Box::new(callback)),
            Some(Box::new(error_callback)),
        )
    }

    fn apply_inner<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: Option<Callback<R>>,
        error_callback: Option<ErrorCallback>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let store = Store::with_callbacks(1, callback, error_callback, self.pool_id());
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
    /// Python's default: about four chunks per worker. One `Result` per item: a panic fails
    /// only its own item, a dead worker only the chunk it was running (with the default
    /// chunksize, a quarter of its share; pass `Some(1)` to lose one item at most).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError, TaskError};
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.map(|x: u32| 12 / x, [1, 0, 3], Some(1))?;
    /// assert_eq!(r[0], Ok(12));
    /// assert!(matches!(r[1], Err(TaskError::Panicked(_)))); // only its own item fails
    /// assert_eq!(r[2], Ok(4));
    /// pool.terminate();
    /// assert!(matches!(pool.map(|x: u32| x, [1], None), Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.map_async(|x: u64| x * x, 1..=4, None)?;
    /// // ... other work while the workers run ...
    /// assert_eq!(r.get(), [Ok(1), Ok(4), Ok(9), Ok(16)]);
    /// pool.close();
    /// assert!(matches!(pool.map_async(|x: u64| x, 0..1, None), Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        self.submit_items(task::run_map::<A, R>, f as usize, items, chunksize)
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
    /// `chunksize` defaults to 1, as Python's). The items are all read before this
    /// returns (Python reads them in a thread meanwhile): an endless iterator never
    /// returns, so feed one in finite batches.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let mut it = pool.imap(|x: u32| x * 10, 1..=3, None)?;
    /// assert_eq!(it.next(), Some(Ok(10)));
    /// assert_eq!(it.collect::<Vec<_>>(), [Ok(20), Ok(30)]);
    /// pool.close();
    /// assert!(matches!(pool.imap(|x: u32| x, 0..1, None), Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let it = pool.imap_unordered(|x: u32| x * 10, 1..=3, None)?;
    /// let mut out: Vec<u32> = it.collect::<Result<_, _>>()?;
    /// out.sort(); // they came in the order they finished
    /// assert_eq!(out, [10, 20, 30]);
    /// pool.terminate();
    /// let late = pool.imap_unordered(|x: u32| x, 0..1, None);
    /// assert!(matches!(late, Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let cs = chunksize.unwrap_or(1);
        chunk_count(items.len(), cs)?; // before a store of that many results
        let store = Store::new(items.len(), !ordered, self.pool_id());
        self.submit(
            task::run_map::<A, R>,
            f as usize,
            items,
            cs,
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
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.starmap_async(|a: u32, b: u32| a * b, vec![(2, 3), (4, 5)], None)?;
    /// assert_eq!(r.get(), [Ok(6), Ok(20)]);
    /// pool.close();
    /// let late = pool.starmap_async(|a: u32, b: u32| a + b, vec![(1, 1)], None);
    /// assert!(matches!(late, Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        self.submit_items(task::run_star2::<A, B, R>, f as usize, items, chunksize)
    }

    /// `f(a, b, c)` for every triple, results in order (`starmap` with three arguments).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.starmap3(|a: u32, b: u32, c: u32| a * b + c, [(2, 3, 1), (4, 5, 0)], None)?;
    /// assert_eq!(r, [Ok(7), Ok(20)]);
    /// pool.close();
    /// let late = pool.starmap3(|a: u32, b: u32, c: u32| a + b + c, vec![(1, 1, 1)], None);
    /// assert!(matches!(late, Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        Ok(self.starmap3_async(f, items, chunksize)?.get())
    }

    /// [`starmap3`](Self::starmap3) without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// let max3 = |a: u8, b: u8, c: u8| a.max(b).max(c);
    /// let r = pool.starmap3_async(max3, [(1, 9, 2), (7, 3, 5)], None)?;
    /// assert_eq!(r.get(), [Ok(9), Ok(7)]);
    /// pool.terminate();
    /// let late = pool.starmap3_async(|a: u8, b: u8, c: u8| a + b + c, vec![(1, 1, 1)], None);
    /// assert!(matches!(late, Err(PoolError::NotRunning)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn starmap3_async<A, B, C, R, I>(
        &self,
        f: fn(A, B, C) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        B: Message + Send + 'static,
        C: Message + Send + 'static,
        R: Message + Send + 'static,
        I: IntoIterator<Item = (A, B, C)>,
    {
        let items: Vec<(A, B, C)> = items.into_iter().collect();
        self.submit_items(task::run_star3::<A, B, C, R>, f as usize, items, chunksize)
    }

    /// Python's default chunksize: `len / (4 * processes)`, rounded up.
    fn default_chunksize(&self, len: usize) -> usize {
        len.div_ceil(4 * self.shared.processes).max(1)
    }

    /// The body of `map_async` and the `starmap*_async`: `items` run by `tramp` with
    /// `func`, in chunks of `chunksize` (default: Python's).
    fn submit_items<A, R>(
        &self,
        tramp: Trampoline,
        func: usize,
        items: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let cs = chunksize.unwrap_or_else(|| self.default_chunksize(items.len()));
        chunk_count(items.len(), cs)?; // before a store of that many results
        let store = Store::new(items.len(), false, self.pool_id());
        self.submit(tramp, func, items, cs, Arc::clone(&store))?;
        Ok(MapResult { store })
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
        let n = chunk_count(items.len(), chunksize)?;
        let job: Arc<dyn Job> = Arc::new(ItemsJob::new(items, chunksize, tramp, func, store));
        let later = {
            let mut st = self.shared.state.lock();
            if st.running != Running::Run {
                return Err(PoolError::NotRunning);
            }
            let id = st.next_job;
            st.next_job = st.next_job.wrapping_add(1) % u32::MAX; // u32::MAX is never a job: EXIT
            st.jobs.insert(id, job);
            st.remaining.insert(id, n);
            st.pending.extend((0..n).map(|i| chunk_id(id, i)));
            let mut later = Later::new();
            self.shared.dispatch(&mut st, &mut later);
            later
        };
        run_later(later);
        Ok(())
    }

    /// This pool's identity for its results: see `Store::not_on_own_supervisor`.
    fn pool_id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    fn check_running(&self) -> Result<(), PoolError> {
        match self.shared.state.lock().running {
            Running::Run => Ok(()),
            _ => Err(PoolError::NotRunning),
        }
    }

    /// No more work is accepted; the workers leave once the submitted work is done
    /// (Python's `close`), and [`join`](Self::join) reaps them.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new(1)?;
    /// let r = pool.apply_async(|x: u32| x + 1, 1)?;
    /// pool.close();
    /// assert!(matches!(pool.apply_async(|x: u32| x + 1, 2), Err(PoolError::NotRunning)));
    /// pool.join()?; // the work submitted before `close` is done, then the workers leave
    /// assert_eq!(r.get(), Ok(2));
    /// assert!(pool.worker_pids().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        let mut st = self.shared.state.lock();
        if st.running == Running::Run {
            st.running = Running::Closed;
        }
    }

    /// Stops the workers now (SIGTERM); every unfinished task fails with
    /// [`TaskError::Terminated`] (Python's `terminate`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    /// use mp_pool::{Pool, TaskError};
    ///
    /// let mut pool = Pool::new(1)?;
    /// let r = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 10_000)?;
    /// pool.terminate();
    /// assert_eq!(r.get(), Err(TaskError::Terminated));
    /// pool.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) {
        self.shared.shut_down(&TaskError::Terminated);
    }

    /// [`PoolError::StillRunning`] before `close`/`terminate`.
    fn check_joinable(&self) -> Result<(), PoolError> {
        if self.shared.state.lock().running == Running::Run {
            return Err(PoolError::StillRunning);
        }
        Ok(())
    }

    /// Waits for the workers to finish the submitted work and exit (Python's `join`);
    /// needs [`close`](Self::close) or [`terminate`](Self::terminate) first.
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use mp_pool::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new(2)?;
    /// let r = pool.map_async(|x: u32| x + 1, 0..8, None)?;
    /// assert!(matches!(pool.join(), Err(PoolError::StillRunning))); // close first
    /// pool.close();
    /// pool.join()?;
    /// assert!(r.ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&mut self) -> Result<(), PoolError> {
        self.join_timeout(Duration::MAX).map(drop)
    }

    /// [`join`](Self::join) waiting at most `timeout`: `Ok(true)` once the work is done and
    /// the workers have exited, `Ok(false)` if that did not happen in time (call `join` or
    /// `join_timeout` again later, or `terminate`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mp_process::hook!();
    /// use std::time::Duration;
    ///
    /// let mut pool = mp_pool::Pool::new(1)?;
    /// let _slow = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300)?;
    /// pool.close();
    /// assert_eq!(pool.join_timeout(Duration::from_millis(10))?, false); // still working
    /// assert_eq!(pool.join_timeout(Duration::MAX)?, true); // no deadline at all
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool, PoolError> {
        let deadline = ipc_core::deadline_after(timeout);
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.check_joinable()?;
        if self
            .supervisor
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
        {
            // Called from the supervisor thread itself (a callback dropped the last handle
            // on the pool): waiting for that thread to end would wait for good. It ends on
            // its own once the pool is closed or terminated and its work is settled.
            return Ok(false);
        }
        if self.supervisor.is_some() {
            // Sleeps until the supervisor thread ends (the channel disconnects) or time is up.
            let done = self.supervisor_done.get_mut();
            let ended = match left() {
                None => done.recv().is_err(),
                Some(t) => matches!(done.recv_timeout(t), Err(RecvTimeoutError::Disconnected)),
            };
            if !ended {
                return Ok(false);
            }
            if let Some(t) = self.supervisor.take() {
                let _ = t.join();
            }
        }
        // The supervisor is gone: the workers are ours to wait for, outside the lock.
        let workers: Vec<Worker> = self.shared.state.lock().workers.drain(..).collect();
        let mut running = Vec::new();
        for w in workers {
            let exited = match left() {
                None => w.process.join().is_some(),
                Some(t) => w.process.join_timeout(t).is_some(),
            };
            if !exited {
                running.push(w);
            }
        }
        let done = running.is_empty();
        self.shared.state.lock().workers.extend(running);
        Ok(done)
    }
}

impl Drop for Pool {
    /// Terminates, as leaving Python's `with Pool() as p:` block does.
    fn drop(&mut self) {
        // Not joined yet, or a `join_timeout` that ran out left workers behind: both
        // still have processes to end and reap.
        if self.supervisor.is_some() || !self.shared.state.lock().workers.is_empty() {
            self.terminate();
            let _ = self.join();
        }
    }
}

/// The chunks of `len` items in `chunksize`s: a chunk's index is a `u32` in its id, and
/// `u32::MAX` is no job's, so a call may have fewer than that.
fn chunk_count(len: usize, chunksize: usize) -> Result<u32, PoolError> {
    let n = len.div_ceil(chunksize.max(1)) as u64;
    u32::try_from(n)
        .ok()
        .filter(|&n| n < u32::MAX)
        .ok_or(PoolError::TooManyChunks(n))
}
