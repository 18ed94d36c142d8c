//! The parent's side of a pool: its shared state, the supervisor thread that reads
//! results, refills workers and replaces the dead, and how workers are started.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Write;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_queue::{ByteQueue, GetError, PutError, Queue, ReadGuard};
use parking_lot::Mutex;

use crate::error::{PoolError, TaskError};
use crate::job::Job;
use crate::pool::Builder;
use crate::task::{
    self, WorkerSetup, EXIT, RESULT_HEADER, STATUS_FAILED, STATUS_OK, STATUS_TOO_LARGE,
};

/// How often the supervisor looks for dead workers when no result wakes it sooner.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// How long the supervisor waits before starting a worker again after a start failed.
pub(crate) const START_RETRY: Duration = Duration::from_secs(1);

/// Most results the supervisor settles under one lock.
pub(crate) const RESULT_BATCH: usize = 64;

/// How long a dead worker's chunks wait for results claimed before its death was seen
/// (see `drain_claimed`): only a writer stopped in the middle of a record takes longer,
/// and then the dead worker's finished chunk behind it is failed as if it had not run.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// `Worker::sent` of a worker that is given no more chunks: it was told to leave, or its
/// task ring is broken and it is being replaced.
const RETIRED: u64 = u64::MAX;

/// Workers per process that may die in a row before taking a task, before the pool
/// stops waiting for one that lives (see `Shared::on_early_death`).
const EARLY_DEATHS: usize = 2;

/// Errors in a row from the result ring (one a [`TICK`]) after which the pool gives up.
const BROKEN_LIMIT: u32 = 100;

thread_local! {
    /// The pool (its `Shared`'s address) whose supervisor this thread is, or 0. It runs
    /// that pool's result callbacks: one that waits for a result of the pool would wait
    /// for itself.
    pub(crate) static IN_SUPERVISOR: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Results from every worker; only the supervisor reads it.
    pub(crate) results: ByteQueue,
    pub(crate) key: u64,
    pub(crate) cfg: Builder,
    pub(crate) method: StartMethod,
    pub(crate) processes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Running {
    Run,
    Closed,
    Terminated,
}

pub(crate) struct State {
    pub(crate) running: Running,
    /// After a worker failed to start: when to try again.
    pub(crate) start_retry_at: Option<Instant>,
    pub(crate) workers: Vec<Worker>,
    /// Chunks not yet written to any worker, next first. Their job still holds their
    /// items, so a chunk taken back from a dead worker is written afresh from its job.
    pub(crate) pending: VecDeque<u64>,
    pub(crate) jobs: HashMap<u32, Arc<dyn Job>>,
    /// Chunks each job still waits for.
    pub(crate) remaining: HashMap<u32, u32>,
    pub(crate) next_job: u32,
    /// Mean time a worker spends per chunk (ns): decides how deep to prefetch.
    pub(crate) ema_ns: f64,
    /// Workers in a row that died before they took a task or gave a result: an
    /// initializer that fails, or a start that does (see `check_workers`).
    pub(crate) early_deaths: usize,
    /// A result record matched no chunk: the busy workers are to be pinged
    /// ([`Shared::send_pings`]).
    pub(crate) ping_due: bool,
    /// The index of the next ping's chunk id.
    pub(crate) next_ping: u32,
}

pub(crate) struct Worker {
    pub(crate) process: Process,
    pub(crate) pid: i32,
    pub(crate) tasks: ByteQueue,
    /// Chunks written to its ring and not yet answered, oldest first, with when they
    /// were written.
    pub(crate) in_flight: VecDeque<(u64, Instant)>,
    pub(crate) last_result: Instant,
    pub(crate) sent: u64,
    /// Whether it has given a result.
    pub(crate) answered: bool,
    /// Whether the pool killed it (a broken task ring): its death is not the worker's.
    pub(crate) killed: bool,
}

/// Work to finish after the state lock is released (deliveries run user callbacks).
pub(crate) type Later = Vec<(Arc<dyn Job>, u32, TaskError)>;

pub(crate) fn chunk_id(job: u32, index: u32) -> u64 {
    (u64::from(job) << 32) | u64::from(index)
}

pub(crate) fn split(chunk: u64) -> (u32, u32) {
    ((chunk >> 32) as u32, chunk as u32)
}

pub(crate) fn run_later(later: Later) {
    for (job, index, e) in later {
        job.fail(index, e);
    }
}

impl Shared {
    /// Starts one worker process with a fresh task ring.
    pub(crate) fn start_worker(&self) -> Result<Worker, PoolError> {
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
        let initializer = self
            .cfg
            .initializer
            .map(|f| mp_process::code::offset_of(f as usize));
        let mut process = if self.method == StartMethod::Fork {
            let setup = WorkerSetup {
                tasks: tasks.try_clone().map_err(|e| err(&e))?,
                results: self.results.try_clone().map_err(|e| err(&e))?,
                key: self.key,
                initializer,
                maxtasks: self.cfg.maxtasksperchild,
            };
            // The closure returns; the process runner then flushes and leaves with `_exit`.
            builder.target(move || task::worker_loop(setup))
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
            answered: false,
            killed: false,
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
    pub(crate) fn dispatch(&self, st: &mut State, later: &mut Later) {
        let depth = Self::depth(st);
        let max = self.cfg.maxtasksperchild;
        while let Some(&id) = st.pending.front() {
            let Some(wi) = (0..st.workers.len())
                .filter(|&i| {
                    let w = &st.workers[i];
                    w.sent != RETIRED && w.in_flight.len() < depth && (max == 0 || w.sent < max)
                })
                .min_by_key(|&i| st.workers[i].in_flight.len())
            else {
                return;
            };
            let (job_id, index) = split(id);
            let Some(job) = st.jobs.get(&job_id).cloned() else {
                st.pending.pop_front(); // its job was failed or terminated
                continue;
            };
            let (tramp, func) = job.code();
            let header = task::task_header(self.key, id, tramp, func);
            // The arguments' `Serialize` is user code: a panic there fails this chunk, not
            // the thread dispatching (the supervisor, or a submitter holding the lock).
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job.write(index, &header, &st.workers[wi].tasks)
            }));
            let written = written.map_err(|_| {
                TaskError::Failed("serializing the chunk's arguments panicked".to_owned())
            });
            match written {
                Err(e) => {
                    st.pending.pop_front();
                    Self::chunk_done(st, job_id);
                    later.push((job, index, e));
                }
                Ok(Ok(())) => {
                    st.pending.pop_front();
                    let w = &mut st.workers[wi];
                    w.in_flight.push_back((id, Instant::now()));
                    w.sent += 1;
                }
                Ok(Err(PutError::Full(()))) if !st.workers[wi].in_flight.is_empty() => {
                    return; // this worker's ring is full of bytes: later
                }
                Ok(Err(PutError::Full(()))) => {
                    // Full while its worker holds nothing: the ring is broken
                    // (corrupted). The worker is retired and killed, so that
                    // `check_workers` starts another with a fresh ring; the chunk waits
                    // for a worker that can take it.
                    let w = &mut st.workers[wi];
                    let _ = writeln!(
                        std::io::stderr(),
                        "mp-pool: worker {}'s task ring is full while it holds no task; \
                         replacing it",
                        w.pid
                    );
                    w.sent = RETIRED;
                    w.killed = true;
                    let _ = w.process.kill();
                }
                Ok(Err(e)) => {
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
    pub(crate) fn chunk_done(st: &mut State, job_id: u32) {
        if let Some(r) = st.remaining.get_mut(&job_id) {
            *r -= 1;
            if *r == 0 {
                st.remaining.remove(&job_id);
                st.jobs.remove(&job_id);
            }
        }
    }

    /// Stops the workers and fails every unfinished item with `why`: `terminate`, or a
    /// supervisor that cannot go on.
    pub(crate) fn shut_down(&self, why: &TaskError) {
        let (jobs, workers) = {
            let mut st = self.state.lock();
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
            j.fail_rest(why);
        }
    }

    /// The supervisor thread: results, dead workers, and the end of the pool.
    pub(crate) fn supervise(&self) {
        /// A supervisor that unwinds (a panic in code of ours) takes the pool down with
        /// it: every unfinished item fails, rather than waiting for a thread that is gone.
        struct Guard<'a>(&'a Shared);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let why = "the pool's supervisor thread panicked".to_owned();
                    self.0.shut_down(&TaskError::Failed(why));
                }
            }
        }
        let _guard = Guard(self);
        IN_SUPERVISOR.set(self as *const Shared as usize);
        let mut last_check = Instant::now();
        let mut batch = Vec::with_capacity(RESULT_BATCH);
        let mut broken = 0u32;
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
                    broken = 0;
                }
                Err(GetError::Timeout | GetError::Empty) => broken = 0,
                Err(e) => {
                    // A corrupted result ring: no result can come through it any more
                    // once it stays so; every item waiting for one fails.
                    broken += 1;
                    if broken >= BROKEN_LIMIT {
                        let why = format!("the pool's result ring is unusable: {e}");
                        self.shut_down(&TaskError::Failed(why));
                        return;
                    }
                    std::thread::sleep(TICK);
                }
            }
            if last_check.elapsed() >= TICK {
                last_check = Instant::now();
                self.check_workers();
            }
            let mut st = self.state.lock();
            if st.running == Running::Terminated {
                return;
            }
            if st.ping_due {
                self.send_pings(&mut st);
            }
            // Python's `close`: the workers leave once the submitted work is done, joined
            // or not.
            if st.running == Running::Closed && st.jobs.is_empty() {
                for w in &st.workers {
                    let _ = w.tasks.put(&task::task_header(0, EXIT, 0, 0));
                }
                st.workers.iter_mut().for_each(|w| w.sent = RETIRED);
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
                    st.ping_due = true; // not a result record: some answer was lost
                    continue;
                };
                // Only a chunk some worker holds is settled: a corrupted or repeated id
                // must not end a job whose real results are still coming.
                if !Self::answered(&mut st, chunk, now, &mut later) {
                    st.ping_due = true;
                    continue;
                }
                let (job_id, index) = split(chunk);
                if let Some(job) = st.jobs.get(&job_id).cloned() {
                    Self::chunk_done(&mut st, job_id);
                    deliveries.push((job, index, status, &rec[RESULT_HEADER..]));
                }
            }
            if st.ping_due {
                self.send_pings(&mut st);
            }
            self.dispatch(&mut st, &mut later);
        }
        for (job, index, status, body) in deliveries {
            match status {
                STATUS_OK => {
                    // The results' `Deserialize` (and `Drop`) is user code.
                    let run = || job.deliver(index, body);
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
                        let why = "decoding the chunk's results panicked".to_owned();
                        job.fail(index, TaskError::Failed(why));
                    }
                }
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

    /// Takes `chunk` off its worker's in-flight list and updates the time per chunk; false
    /// if no worker holds it.
    ///
    /// A worker answers its chunks in the order it was given them, so chunks it was
    /// given before this one and has not answered had their answers lost (a corrupted
    /// record's id): they fail, rather than wait for an answer that will not come.
    fn answered(st: &mut State, chunk: u64, now: Instant, later: &mut Later) -> bool {
        let Some((wi, pos)) = st.workers.iter().enumerate().find_map(|(i, w)| {
            let pos = w.in_flight.iter().position(|&(c, _)| c == chunk)?;
            Some((i, pos))
        }) else {
            return false;
        };
        if pos > 0 {
            Self::answers_lost(st, wi, pos, later);
        }
        let w = &mut st.workers[wi];
        let (_, sent_at) = w.in_flight.pop_front().unwrap_or((chunk, now));
        let began = sent_at.max(w.last_result);
        w.last_result = now;
        w.answered = true;
        st.early_deaths = 0;
        let took = now.duration_since(began).as_nanos() as f64;
        st.ema_ns = if st.ema_ns.is_finite() {
            0.9 * st.ema_ns + 0.1 * took
        } else {
            took
        };
        true
    }

    /// After a result record that matched no chunk (a corrupted id, which `answered` can
    /// only catch once the same worker answers a later chunk): a ping behind the chunks
    /// of every worker that holds some. Its answer fails those left unanswered before it,
    /// so a lost answer to a worker's last chunk does not leave that chunk waiting for
    /// good. A ring that is full keeps `ping_due` set, for the next try (every `TICK`).
    #[cold]
    pub(crate) fn send_pings(&self, st: &mut State) {
        let mut all = true;
        for wi in 0..st.workers.len() {
            let w = &st.workers[wi];
            let Some(&(last, _)) = w.in_flight.back() else {
                continue; // holds nothing: nothing of it can be waiting
            };
            if w.sent == RETIRED || split(last).0 == task::PING_JOB {
                continue; // leaving (its death settles it), or already asked
            }
            let id = chunk_id(task::PING_JOB, st.next_ping);
            match w.tasks.try_put(&task::task_header(self.key, id, 0, 0)) {
                Ok(()) => {
                    st.workers[wi].in_flight.push_back((id, Instant::now()));
                    st.next_ping = (st.next_ping + 1) % u32::MAX; // u32::MAX: EXIT's
                }
                Err(_) => all = false,
            }
        }
        st.ping_due = !all;
    }

    /// Fails the first `n` chunks worker `wi` holds: their answers were lost.
    #[cold]
    fn answers_lost(st: &mut State, wi: usize, n: usize, later: &mut Later) {
        let lost: Vec<u64> = st.workers[wi]
            .in_flight
            .drain(..n)
            .map(|(c, _)| c)
            .collect();
        for id in lost {
            let (job_id, index) = split(id);
            if let Some(job) = st.jobs.get(&job_id).cloned() {
                Self::chunk_done(st, job_id);
                let why = "its answer was lost, or a corrupted record named another chunk: \
                           the worker's answer to a later chunk came first";
                later.push((job, index, TaskError::Failed(why.to_owned())));
            }
        }
    }

    /// Reaps dead workers: their finished results are read first, their untaken chunks
    /// go back to the front of the queue, the chunk they were running fails, and
    /// replacements start.
    fn check_workers(&self) {
        // Not alive, rather than "has an exit code": a worker whose status was lost (SIGCHLD
        // ignored, or reaped by a foreign `waitpid`) has none, and is dead all the same.
        let dead: Vec<i32> = {
            let mut st = self.state.lock();
            st.workers
                .iter_mut()
                .filter(|w| !w.process.is_alive())
                .map(|w| {
                    w.sent = RETIRED; // no chunk for it while its results are read
                    w.pid
                })
                .collect()
        };
        if !dead.is_empty() {
            // Everything the dead finished is already in the result ring, maybe behind a
            // record another worker is still writing: read all of it first.
            self.drain_claimed();
            let mut later = Later::new();
            {
                let mut st = self.state.lock();
                // Found again by pid: `terminate` or `join` may have taken the workers
                // while the lock was free.
                for pid in dead {
                    if let Some(i) = st.workers.iter().position(|w| w.pid == pid) {
                        let w = st.workers.swap_remove(i);
                        let took = Self::reclaim(&mut st, &w, &mut later);
                        if took || w.answered {
                            st.early_deaths = 0;
                        } else if !w.killed {
                            st.early_deaths += 1;
                            self.on_early_death(&mut st, &w, &mut later);
                        }
                    }
                }
                self.dispatch(&mut st, &mut later); // the survivors take the chunks back
            }
            run_later(later);
        }
        self.replace_missing();
    }

    /// A worker died before it took a task or gave a result. Python starts another for
    /// good (an initializer that fails does this to every worker); after
    /// [`EARLY_DEATHS`] per process in a row, this pool treats it as a start that fails
    /// instead: the work waiting for a worker fails, and starts are tried again every
    /// [`START_RETRY`].
    fn on_early_death(&self, st: &mut State, w: &Worker, later: &mut Later) {
        // A live worker that has answered can still take the work.
        if st.early_deaths < EARLY_DEATHS * self.processes.max(1)
            || st.workers.iter().any(|w| w.answered)
        {
            return;
        }
        let code = w.process.exitcode().unwrap_or(0);
        let why = format!(
            "every worker exits before it takes a task ({} in a row, the last with code \
             {code}): the initializer, or the worker's start, fails",
            st.early_deaths
        );
        if st.early_deaths == EARLY_DEATHS * self.processes.max(1) {
            let _ = writeln!(
                std::io::stderr(),
                "mp-pool: {why}; retrying every {START_RETRY:?}"
            );
        }
        st.start_retry_at = Some(Instant::now() + START_RETRY);
        Self::fail_pending(st, &why, later);
    }

    /// Starts the workers the pool lacks: after deaths, and again after a start that
    /// failed (every [`START_RETRY`]). While no worker is left and none starts, the work
    /// waiting for one fails, rather than waiting for good.
    fn replace_missing(&self) {
        let missing = {
            let st = self.state.lock();
            if st.start_retry_at.is_some_and(|t| Instant::now() < t) {
                return;
            }
            self.wanted(&st).saturating_sub(st.workers.len())
        };
        if missing == 0 {
            return;
        }
        // Started without the lock: a start takes a millisecond or more (a spawned worker
        // up to HOOK_TIMEOUT), and submitters and result delivery must not wait for it.
        let mut failure = None;
        let mut fresh: Vec<Worker> = (0..missing)
            .map_while(|_| self.start_worker().map_err(|e| failure = Some(e)).ok())
            .collect();
        let mut later = Later::new();
        {
            let mut st = self.state.lock();
            // The pool may have been terminated or joined meanwhile: keep only as many as
            // it still wants.
            let room = self.wanted(&st).saturating_sub(st.workers.len());
            let keep = fresh.len().min(room);
            st.workers.extend(fresh.drain(..keep));
            match failure {
                Some(e) => {
                    if st.start_retry_at.is_none() {
                        // Not `eprintln!`, which panics when stderr is a closed pipe.
                        let _ = writeln!(
                            std::io::stderr(),
                            "mp-pool: cannot start a replacement worker ({e}); \
                             retrying every {START_RETRY:?}"
                        );
                    }
                    st.start_retry_at = Some(Instant::now() + START_RETRY);
                    if st.workers.is_empty() {
                        let why = format!("no worker left, and none could be started: {e}");
                        Self::fail_pending(&mut st, &why, &mut later);
                    }
                }
                None => st.start_retry_at = None,
            }
            self.dispatch(&mut st, &mut later);
        }
        for w in fresh {
            let _ = w.process.kill();
            w.process.join();
        }
        run_later(later);
    }

    /// Fails every chunk no worker holds yet with [`TaskError::Failed`]`(why)`.
    fn fail_pending(st: &mut State, why: &str, later: &mut Later) {
        while let Some(id) = st.pending.pop_front() {
            let (job_id, index) = split(id);
            if let Some(job) = st.jobs.get(&job_id).cloned() {
                Self::chunk_done(st, job_id);
                later.push((job, index, TaskError::Failed(why.to_owned())));
            }
        }
    }

    /// Settles every result record claimed in the result ring before now. Records are
    /// read in the order they were claimed, so this waits for any still being written
    /// (by a live worker; a dead writer's the ring turns into padding), for at most
    /// [`DRAIN_LIMIT`]. Counting the records taken against the count claimed now ends it
    /// once every earlier claim is behind, even while new results keep coming.
    fn drain_claimed(&self) {
        let owed = self.results.qsize();
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut taken = 0;
        loop {
            let batch: Vec<_> = std::iter::from_fn(|| self.results.try_get_ref().ok())
                .take(RESULT_BATCH)
                .collect();
            taken += batch.len();
            if !batch.is_empty() {
                self.on_results(&batch);
            }
            if taken >= owed || Instant::now() >= deadline {
                return;
            }
            if batch.is_empty() {
                if self.results.empty() {
                    return;
                }
                match self.results.get_ref_timeout(TICK) {
                    Ok(rec) => {
                        taken += 1;
                        self.on_results(&[rec]);
                    }
                    Err(GetError::Timeout | GetError::Empty) => {}
                    Err(_) => return, // a corrupted ring: `supervise` deals with it
                }
            }
        }
    }

    /// How many workers the pool should have now.
    fn wanted(&self, st: &State) -> usize {
        match st.running {
            Running::Terminated => 0,
            Running::Closed if st.jobs.is_empty() => 0,
            _ => self.processes,
        }
    }

    /// Settles the chunks of dead worker `w` (already out of `st.workers`): those still
    /// in its ring go back to the front of the queue, the rest (it was running them)
    /// fail with [`TaskError::WorkerDied`].
    ///
    /// Only ids the worker holds count, each once: a corrupted record whose id is bogus,
    /// or repeats a real chunk, must neither be sent again nor make `chunk_done` count a
    /// chunk twice (that would forget the job early and leave its result waiting forever).
    ///
    /// Returns whether it had taken a chunk.
    pub(crate) fn reclaim(st: &mut State, w: &Worker, later: &mut Later) -> bool {
        // Pings are no work: nothing to give back or fail, and not a task taken.
        let mut held: Vec<u64> = w
            .in_flight
            .iter()
            .map(|&(id, _)| id)
            .filter(|&id| split(id).0 != task::PING_JOB)
            .collect();
        let mut back = Vec::new();
        while let Ok(rec) = w.tasks.try_get_ref() {
            let id = task::task_chunk(&rec);
            if let Some(pos) = id.and_then(|id| held.iter().position(|&h| h == id)) {
                back.push(held.remove(pos));
            }
        }
        for &id in back.iter().rev() {
            st.pending.push_front(id);
        }
        let exitcode = w.process.exitcode().unwrap_or(0);
        let took = !held.is_empty();
        for id in held {
            let (job_id, index) = split(id);
            if let Some(job) = st.jobs.get(&job_id).cloned() {
                Self::chunk_done(st, job_id);
                let e = TaskError::WorkerDied {
                    pid: w.pid,
                    exitcode,
                };
                later.push((job, index, e));
            }
        }
        took
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
    initializer: Option<u64>,
    maxtasks: u64,
}

/// The entry of a spawned or forkserver worker.
fn worker_entry(args: WorkerArgs) {
    let attach = |h: &str| -> Option<ByteQueue> { ByteQueue::from_handle(h.parse().ok()?).ok() };
    let (Some(tasks), Some(results)) = (attach(&args.tasks), attach(&args.results)) else {
        eprintln!("mp-pool worker: cannot attach to the pool's rings");
        mp_process::exit(3);
    };
    // Returns; the process runner then flushes and leaves with `_exit`.
    task::worker_loop(WorkerSetup {
        tasks,
        results,
        key: args.key,
        initializer: args.initializer,
        maxtasks: args.maxtasks,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::ItemsJob;
    use crate::pool::Builder;
    use crate::result::Store;

    fn inc(x: u32) -> u32 {
        x + 1
    }

    /// A `map(inc, 1..=n)` job of `n` one-item chunks, as job 0, and the store its
    /// results land in.
    fn inc_job(n: u32) -> (Arc<Store<u32>>, Arc<dyn Job>) {
        let store = Store::<u32>::new(n as usize, false, 1);
        let job: Arc<dyn Job> = Arc::new(ItemsJob::new(
            (1..=n).collect(),
            1,
            task::run_map::<u32, u32>,
            inc as fn(u32) -> u32 as usize,
            Arc::clone(&store),
        ));
        (store, job)
    }

    /// A pool's state running `job` (job 0, `n` chunks to come) with `workers`.
    fn state(workers: Vec<Worker>, job: Arc<dyn Job>, n: u32) -> State {
        State {
            running: Running::Run,
            start_retry_at: None,
            workers,
            pending: VecDeque::new(),
            jobs: HashMap::from([(0, job)]),
            remaining: HashMap::from([(0, n)]),
            next_job: 1,
            ema_ns: f64::INFINITY,
            early_deaths: 0,
            ping_due: false,
            next_ping: 0,
        }
    }

    /// A pool's shared part around `st`, with a 64 KiB result ring and check key 1.
    fn shared(st: State) -> Shared {
        Shared {
            state: Mutex::new(st),
            results: ByteQueue::with(Queue::builder().capacity(1 << 16), None).unwrap(),
            key: 1,
            cfg: Builder::default(),
            method: StartMethod::Fork,
            processes: 0,
        }
    }

    /// Worker 4242, never started (so not alive), holding `chunks` in this order.
    fn worker(tasks: ByteQueue, chunks: &[u64], answered: bool) -> Worker {
        let now = Instant::now();
        Worker {
            process: Process::new(|| {}),
            pid: 4242,
            tasks,
            in_flight: chunks.iter().map(|&c| (c, now)).collect(),
            last_result: now,
            sent: chunks.len() as u64,
            answered,
            killed: false,
        }
    }

    /// A dead worker's ring with a bogus id and repeats of a real chunk: each chunk the
    /// worker held is re-queued or failed exactly once, so the job stays until its real
    /// results are in.
    #[test]
    fn reclaim_counts_each_held_chunk_once() {
        let (store, job) = inc_job(4);
        let mut st = state(Vec::new(), job, 4);
        let tasks = ByteQueue::with(Queue::builder().capacity(1 << 16), None).unwrap();
        let (c0, c1, c2, c3) = (
            chunk_id(0, 0),
            chunk_id(0, 1),
            chunk_id(0, 2),
            chunk_id(0, 3),
        );
        // c0 was being run (taken off the ring); c1 and c2 are untaken; the rest is
        // corruption: a repeat of c1, a chunk the worker never held (c3), a bogus job,
        // a record too short to be a task.
        for id in [c1, c1, c2, c3, chunk_id(77, 5), c1] {
            tasks.try_put(&task::task_header(1, id, 0, 0)).unwrap();
        }
        tasks.try_put(b"short").unwrap();
        let w = worker(tasks, &[c0, c1, c2], false);
        let mut later = Later::new();
        Shared::reclaim(&mut st, &w, &mut later);
        assert_eq!(
            st.pending,
            [c1, c2],
            "each untaken chunk back once, in order"
        );
        assert_eq!(later.len(), 1, "only the running chunk fails");
        assert_eq!(later[0].1, 0);
        assert_eq!(st.remaining[&0], 3);
        run_later(later);
        // The three chunks still to come (c1, c2 again, and c3, never sent) end the job
        // only with the last of them.
        for left in [2, 1] {
            Shared::chunk_done(&mut st, 0);
            assert_eq!(st.remaining.get(&0), Some(&left));
            assert!(st.jobs.contains_key(&0));
        }
        Shared::chunk_done(&mut st, 0);
        assert!(st.jobs.is_empty() && st.remaining.is_empty());
        assert_eq!(store.done(), 1, "only the running chunk's item was settled");
    }

    /// A worker that died after its result for one chunk was written, while a live
    /// worker's record ahead of it in the ring was still being written: the dead worker's
    /// finished chunk is delivered, not failed; only the chunk it was running fails.
    #[test]
    fn a_dead_workers_result_behind_a_live_writer_is_delivered() {
        let (store, job) = inc_job(2);
        let (c0, c1) = (chunk_id(0, 0), chunk_id(0, 1));
        let dead = worker(ByteQueue::new().unwrap(), &[c0, c1], true);
        let shared = shared(state(vec![dead], job, 2));
        let live = ByteQueue::from_handle(shared.results.handle()).unwrap();
        let dying = ByteQueue::from_handle(shared.results.handle()).unwrap();
        let mut writing = live.reserve(64).unwrap(); // the live worker's record, claimed
        writing.fill(0xff); // no chunk's id
        let answer = vec![Ok::<u32, String>(2)];
        dying
            .put_framed(&task::result_header(c0, STATUS_OK), &answer, None)
            .unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // Committed only once `check_workers` has seen the death (it retires the
                // worker first), so its read must wait for this record.
                let seen = || {
                    shared
                        .state
                        .lock()
                        .workers
                        .first()
                        .is_none_or(|w| w.sent == RETIRED)
                };
                while !seen() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                writing.commit(); // not a result record: ignored
            });
            shared.check_workers();
        });
        assert_eq!(store.done(), 2);
        let got = store.take_all_for_test();
        assert_eq!(got[0], Ok(2), "its finished chunk is delivered");
        assert!(matches!(
            got[1],
            Err(TaskError::WorkerDied { pid: 4242, .. })
        ));
    }

    /// A corrupted answer to a worker's last chunk matched nothing and no later answer
    /// of that worker came to show it lost: the chunk waited for good. Now the worker is
    /// pinged behind it, and the ping's answer fails it.
    #[test]
    fn a_lost_answer_to_a_workers_last_chunk_fails_it_after_a_ping() {
        let (store, job) = inc_job(1);
        let c0 = chunk_id(0, 0);
        let tasks = ByteQueue::with(Queue::builder().capacity(1 << 16), None).unwrap();
        let busy = worker(tasks.try_clone().unwrap(), &[c0], true);
        let shared = shared(state(vec![busy], job, 1));
        let answers = ByteQueue::from_handle(shared.results.handle()).unwrap();
        let settle = || {
            let rec = shared.results.try_get_ref().unwrap();
            shared.on_results(&[rec]);
        };
        // The answer to c0, its chunk id corrupted.
        answers
            .put(&task::result_header(chunk_id(7, 7), STATUS_OK))
            .unwrap();
        settle();
        let ping = {
            let rec = tasks.try_get_ref().unwrap();
            task::task_chunk(&rec).unwrap()
        };
        assert_eq!(split(ping).0, task::PING_JOB);
        assert_eq!(
            store.done(),
            0,
            "c0 still waits: maybe its answer is on its way"
        );
        assert!(!shared.state.lock().ping_due, "sent");
        // The worker answers the ping: c0, before it, was answered and lost.
        answers.put(&task::result_header(ping, STATUS_OK)).unwrap();
        settle();
        assert_eq!(store.done(), 1);
        let got = store.take_all_for_test();
        assert!(matches!(&got[0], Err(TaskError::Failed(m)) if m.contains("lost")));
        assert!(shared.state.lock().workers[0].in_flight.is_empty());
    }

    /// A worker answers in order: an answer to its second chunk while the first is still
    /// unanswered means the first's answer was lost (a corrupted id). The first fails
    /// then, instead of waiting for good; the second is delivered.
    #[test]
    fn a_later_answer_from_the_same_worker_fails_the_lost_earlier_one() {
        let (_store, job) = inc_job(2);
        let (c0, c1) = (chunk_id(0, 0), chunk_id(0, 1));
        let now = Instant::now();
        let w = worker(ByteQueue::new().unwrap(), &[c0, c1], false);
        let mut st = state(vec![w], job, 2);
        let mut later = Later::new();
        assert!(Shared::answered(&mut st, c1, now, &mut later));
        assert!(st.workers[0].in_flight.is_empty());
        assert_eq!(later.len(), 1, "the earlier chunk fails");
        assert_eq!(later[0].1, 0);
        assert!(matches!(&later[0].2, TaskError::Failed(m) if m.contains("lost")));
        assert_eq!(
            st.remaining[&0], 1,
            "the later one is for the caller to settle"
        );
        assert!(
            !Shared::answered(&mut st, c0, now, &mut later),
            "no longer held"
        );
    }
}
