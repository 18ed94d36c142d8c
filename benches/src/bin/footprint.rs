//! What a queue costs in memory, against the ANCHORS goal "a queue's memory is its
//! capacity plus a constant": for a few `Queue` configurations, the shared segment's size
//! and the shared memory this process has touched (`RssShmem`) once records have gone
//! round the whole queue; beside crossbeam `bounded`, whose heap use a counting allocator
//! measures. (Python's `multiprocessing.Queue` keeps its items in a kernel pipe and a
//! feeder thread's buffer, outside any figure a process can read about itself.)
//!
//! `cargo run --release -p benches --bin footprint` prints a Markdown table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use mp_queue::{ByteQueue, Queue};

/// Counts the heap bytes live, to measure crossbeam's channel.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; counting is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Shared memory this process has touched, in bytes (`RssShmem` of /proc/self/status).
fn rss_shmem() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssShmem:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// One table row: the queue's figures, and the shared memory touched since `before`.
fn row(queue: &str, capacity: usize, maxsize: usize, segment: usize, before: usize) {
    let touched = rss_shmem() - before;
    println!(
        "| {queue} | {} | {maxsize} | {} | {} |",
        kib(capacity),
        kib(segment),
        kib(touched)
    );
}

fn main() {
    println!("| queue | capacity | maxsize | shared segment | touched after two laps |");
    println!("|---|---|---|---|---|");
    for (capacity, maxsize) in [(1 << 20, 0), (1 << 20, 1024), (64 << 10, 0), (16 << 20, 0)] {
        let before = rss_shmem();
        let q: Queue<u64> = Queue::builder()
            .capacity(capacity)
            .maxsize(maxsize)
            .create()
            .expect("queue");
        // Every descriptor comes round once small records have gone through maxsize + the
        // spare descriptors; two laps of the item count cover it.
        for i in 0..(2 * q.maxsize() as u64 + 64) {
            q.put(i).expect("put");
            q.get().expect("get");
        }
        let segment = q.handle().size;
        row("`Queue<u64>`", q.capacity(), q.maxsize(), segment, before);
        drop(q);
        let before = rss_shmem();
        let b = ByteQueue::with(Queue::builder().capacity(capacity).maxsize(maxsize), None)
            .expect("byte queue");
        let msg = vec![7u8; 1024];
        for _ in 0..(2 * (b.capacity() / 1024 + b.maxsize()) + 64) {
            b.put(&msg).expect("put");
            drop(b.get_ref().expect("get"));
        }
        let segment = b.handle().size;
        row(
            "`ByteQueue`, 1 KiB messages",
            b.capacity(),
            b.maxsize(),
            segment,
            before,
        );
    }
    for cap in [1024usize, 16384] {
        let before = LIVE.load(Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::bounded::<u64>(cap);
        for i in 0..cap as u64 {
            tx.send(i).expect("send");
        }
        while rx.try_recv().is_ok() {}
        let heap = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "| crossbeam `bounded::<u64>` (heap) | | {cap} | | {} |",
            kib(heap as usize)
        );
        drop((tx, rx));
    }
}
