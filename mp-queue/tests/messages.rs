//! Messages: every size up to the capacity, oversize refused at once, rich types round
//! trip, byte frames, and corrupted records rejected by validation.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{fork, job, reap, serial, watchdog, Job};
use mp_queue::{ByteQueue, GetError, JoinableQueue, PutError, Queue};

#[test]
fn rich_types_round_trip_across_fork() {
    let _serial = serial();
    let _w = watchdog("rich_types", 30);
    let q: Queue<Job> = Queue::new().unwrap();
    let child = fork(|| {
        for i in 0..200 {
            q.put(job(i, (i as usize * 37) % 3000)).unwrap();
        }
        0
    });
    for i in 0..200 {
        let want = job(i, (i as usize * 37) % 3000);
        if i % 2 == 0 {
            assert_eq!(q.get().unwrap(), want);
        } else {
            let r = q.get_ref().unwrap(); // read in place
            assert_eq!(r.id, want.id);
            assert_eq!(r.name.as_str(), want.name);
            assert_eq!(r.payload.as_slice(), &want.payload[..]);
            assert_eq!(r.parent.is_some(), want.parent.is_some());
            assert_eq!(r.deserialize().unwrap(), want);
        }
    }
    assert_eq!(reap(child), Ok(0));
}

/// rkyv's default archives `usize` as 32 bits with an `as` cast: 5_000_000_000 came back
/// as 705_032_704, silently. The workspace asks for 64-bit archived sizes.
#[test]
fn usize_and_isize_keep_all_64_bits_across_fork() {
    let _serial = serial();
    let _w = watchdog("usize_64", 30);
    let sizes: Queue<usize> = Queue::new().unwrap();
    let mixed: Queue<(isize, Vec<usize>, String)> = Queue::new().unwrap();
    let child = fork(|| {
        sizes.put(5_000_000_000).unwrap();
        sizes.put(usize::MAX).unwrap();
        mixed
            .put((-5_000_000_000, vec![1 << 40, usize::MAX - 1], "big".into()))
            .unwrap();
        0
    });
    assert_eq!(sizes.get().unwrap(), 5_000_000_000);
    assert_eq!(sizes.get_ref().unwrap().to_native() as usize, usize::MAX);
    assert_eq!(
        mixed.get().unwrap(),
        (-5_000_000_000, vec![1 << 40, usize::MAX - 1], "big".into())
    );
    assert_eq!(reap(child), Ok(0));
}

/// crossbeam's `iter`, across processes: items as they come, until the last writer (a
/// forked child) exits; an invalid record is an `Err` in the stream, which goes on.
#[test]
fn iter_takes_items_until_every_writer_is_gone_across_fork() {
    let _serial = serial();
    let _w = watchdog("iter_until_closed", 30);
    let q: Queue<bool> = Queue::new().unwrap();
    let child = fork(|| {
        let raw = ByteQueue::from_handle(q.handle()).unwrap();
        for i in 0..100u32 {
            q.put(i % 3 == 0).unwrap();
            if i == 50 {
                raw.put(&[2]).unwrap(); // no valid bool
            }
        }
        0
    });
    q.close(); // this process only reads
    let (mut oks, mut invalid) = (0, 0);
    for item in &q {
        match item {
            Ok(_) => oks += 1,
            Err(GetError::Invalid(_)) => invalid += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((oks, invalid), (100, 1));
    assert_eq!(reap(child), Ok(0));
}

/// `iter` on the other queue kinds: a forked worker takes jobs from a `JoinableQueue`
/// until it closes, marking each done, while the parent joins; byte frames come back by a
/// `ByteQueue`'s `for` loop.
#[test]
fn joinable_and_byte_queues_iterate_across_fork() {
    let _serial = serial();
    let _w = watchdog("iter_joinable_bytes", 30);
    let jobs: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    let done = ByteQueue::new().unwrap();
    let child = fork(|| {
        jobs.close(); // this worker only takes
        for job in &jobs {
            done.put(&job.unwrap().to_le_bytes()).unwrap();
            jobs.task_done().unwrap();
        }
        0
    });
    jobs.put_many(0..50).unwrap();
    jobs.join(); // every job taken and done
    jobs.close(); // the last writer: the worker's loop ends
    assert_eq!(reap(child), Ok(0));
    done.close(); // the child's writer exited with it
    let got: Vec<u32> = done
        .iter()
        .map(|f| u32::from_le_bytes(f.unwrap().try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert_eq!(jobs.try_iter().count(), 0);
}

#[test]
fn every_size_up_to_the_capacity() {
    let _serial = serial();
    let _w = watchdog("every_size", 60);
    let cap = 64 * 1024;
    let q = ByteQueue::with(Queue::builder().capacity(cap), None).unwrap();
    let mut sizes: Vec<usize> = (0..=64).collect();
    sizes.extend((1..=16).map(|k| k * 4096 - 1));
    sizes.extend([cap - 16, cap - 1, cap]);
    for &n in &sizes {
        let msg: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        q.put(&msg).unwrap();
        assert_eq!(&*q.get_ref().unwrap(), &msg[..], "size {n}");
    }
    // Typed: a Vec<u8> whose archive is just under the capacity fits; a larger one is
    // refused at once with its size, and comes back.
    let tq: Queue<Vec<u8>> = Queue::builder().capacity(cap).create().unwrap();
    let fits = vec![1u8; cap - 64];
    tq.put(fits.clone()).unwrap();
    assert_eq!(tq.get().unwrap(), fits);
    match tq.put(vec![2u8; cap + 1]) {
        Err(PutError::TooLarge { value, len, max }) => {
            assert_eq!(value.len(), cap + 1);
            assert!(len > cap);
            assert_eq!(max, cap);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        q.put(&vec![0; cap + 1]),
        Err(PutError::TooLarge { .. })
    ));
    let e = tq.try_put(vec![0; 2 * cap]).unwrap_err();
    assert!(e.to_string().contains("exceeds the queue capacity"), "{e}");
}

/// A typed `put` reserves room for the last value's size before it knows this one's. On a
/// queue full in items that reservation waits; an oversize value must still be refused
/// at once, not after a consumer frees a place (never, here), nor as a `Timeout`.
#[test]
fn an_oversize_value_is_refused_at_once_on_a_full_queue() {
    let _serial = serial();
    let _w = watchdog("oversize_on_full", 30);
    let q: Queue<Vec<u8>> = Queue::builder().maxsize(1).capacity(4096).create().unwrap();
    q.put(vec![1; 100]).unwrap(); // over the inline size: the next put reserves 100+ bytes
    assert!(q.full());
    match q.put_timeout(vec![2; 10_000], Duration::from_secs(2)) {
        Err(PutError::TooLarge { value, len, max }) => {
            assert_eq!((value.len(), max), (10_000, 4096));
            assert!(len > 10_000);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        q.put(vec![3; 5000]),
        Err(PutError::TooLarge { .. })
    ));
    // A value that fits still waits for its place, and times out as asked.
    let started = std::time::Instant::now();
    assert!(matches!(
        q.put_timeout(vec![4; 200], Duration::from_millis(50)),
        Err(PutError::Timeout(_))
    ));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(q.get().unwrap(), vec![1; 100]);
    q.put(vec![5; 300]).unwrap();
    assert_eq!(q.get().unwrap(), vec![5; 300]);
}

/// Across fork, for the typed queue and for a pipe: `Vec<u8>` messages of random sizes up
/// to the largest that fits (a pseudo-random sweep, with a fixed seed, so any failure
/// repeats), each checked byte for byte in the child; batches with `put_many` /
/// `get_many`; `recv_bytes_into` with a buffer too short, which hands the message back;
/// and `get_ref_unchecked` on records this test wrote.
#[test]
fn sizes_batches_and_reads_across_fork() {
    let _serial = serial();
    let _w = watchdog("sizes_across_fork", 60);
    let cap = 64 * 1024;
    let q: Queue<Vec<u8>> = Queue::builder().capacity(cap).create().unwrap();
    let (parent_end, child_end) = mp_queue::pipe_with_capacity::<Vec<u8>>(true, cap).unwrap();
    let mut rng = common::Rng(0x5eed);
    // The largest `Vec<u8>` whose archive fits: its bytes, padded to 8, then the 16-byte
    // root (a 64-bit relative pointer and length, see the workspace's rkyv features).
    let max = cap - 16;
    let mut sizes: Vec<usize> = (0..300)
        .map(|_| rng.below(max as u64 + 1) as usize)
        .collect();
    sizes.extend([0, 1, 15, 16, 17, max]);
    let body = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 31 + n) as u8).collect() };
    let child = fork(|| {
        for &n in &sizes {
            if q.get().unwrap() != body(n) || child_end.recv().unwrap() != body(n) {
                return 1;
            }
        }
        let mut batch = Vec::new();
        while batch.len() < 100 {
            let want = 100 - batch.len();
            q.get_many(&mut batch, want).unwrap();
        }
        if batch != (0..100u8).map(|i| vec![i; i as usize]).collect::<Vec<_>>() {
            return 2;
        }
        // A buffer too short keeps the message, whole.
        let mut small = [0u8; 4];
        match child_end.recv_bytes_into(&mut small) {
            Err(mp_queue::RecvIntoError::BufferTooShort(m)) if m == b"0123456789" => {}
            _ => return 3,
        }
        let mut big = [0u8; 16];
        if child_end.recv_bytes_into(&mut big).ok() != Some(3) || &big[..3] != b"abc" {
            return 4;
        }
        // SAFETY: the parent put this with `put`, as a `Vec<u8>`, and nothing else
        // writes to the queue.
        let r = unsafe { q.get_ref_unchecked() }.unwrap();
        i32::from(r.as_slice() != b"unchecked") * 5
    });
    for &n in &sizes {
        q.put(body(n)).unwrap();
        parent_end.send(body(n)).unwrap();
    }
    assert_eq!(
        q.put_many((0..100u8).map(|i| vec![i; i as usize])).unwrap(),
        100
    );
    parent_end.send_bytes(b"0123456789").unwrap();
    parent_end.send_bytes(b"abc").unwrap();
    q.put(b"unchecked".to_vec()).unwrap();
    assert_eq!(reap(child), Ok(0));
    assert!(q.put(vec![0; max + 1]).is_err(), "one byte more than fits");
}

/// A struct rkyv copies as plain bytes (no padding, and its fields where the archived
/// struct has them, which `repr(C)` makes sure of): `put` skips the serializer for it, as
/// for integers and arrays.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
    id: u32,
    flag: bool,
    tag: [u8; 3],
}

#[test]
fn plain_values_round_trip_across_fork() {
    let _serial = serial();
    let _w = watchdog("plain_values", 30);
    assert!(
        <Point as rkyv::Archive>::COPY_OPTIMIZATION.is_enabled(),
        "rkyv copies Point as bytes, so its puts take the plain path"
    );
    let ints: Queue<u64> = Queue::new().unwrap();
    let points: Queue<Point> = Queue::new().unwrap();
    let big: Queue<[u32; 1024]> = Queue::new().unwrap();
    let point = |i: u32| Point {
        x: i as f64 / 3.0,
        y: -(i as f64),
        id: i,
        flag: i % 2 == 0,
        tag: [i as u8; 3],
    };
    let child = fork(|| {
        for i in 0..100u32 {
            ints.put(u64::MAX - i as u64).unwrap();
            points.put(point(i)).unwrap();
            big.put(std::array::from_fn(|k| k as u32 * i)).unwrap();
        }
        0
    });
    for i in 0..100u32 {
        assert_eq!(ints.get().unwrap(), u64::MAX - i as u64);
        assert_eq!(points.get().unwrap(), point(i));
        let r = big.get_ref().unwrap();
        assert!(
            r.iter().enumerate().all(|(k, v)| *v == k as u32 * i),
            "message {i}"
        );
    }
    assert_eq!(reap(child), Ok(0));
    // Too large for the capacity: refused at once and handed back, as for any value.
    let small: Queue<[u8; 4096]> = Queue::builder().capacity(1024).create().unwrap();
    match small.try_put([3; 4096]) {
        Err(PutError::TooLarge { value, len, max }) => {
            assert_eq!((value[0], len, max), (3, 4096, 1024));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Behind a frame header a plain value is serialized after the header, as any value.
    let frames = ByteQueue::new().unwrap();
    frames.put_framed(&[9; 16], &7u64, None).unwrap();
    let rec = frames.get_ref().unwrap();
    assert_eq!((rec.len(), &rec[..16]), (24, &[9; 16][..]));
    assert_eq!(*mp_queue::access::<u64>(&rec[16..]).unwrap(), 7);
    drop(rec);
    // A plain record that is not a valid value (a `bool` of 2) fails validation on get.
    let bytes = ByteQueue::from_handle(points.handle()).unwrap();
    let mut raw = [0u8; std::mem::size_of::<Point>()];
    raw[std::mem::offset_of!(ArchivedPoint, flag)] = 2;
    bytes.put(&raw).unwrap();
    assert!(matches!(points.get(), Err(GetError::Invalid(_))));
}

#[test]
fn values_larger_than_the_last_one_take_the_spill_path() {
    let _serial = serial();
    let _w = watchdog("values_larger_than_the_last_one_take_the_spill_path", 60);
    // The first put reserves the last size seen; a larger value spills and is re-put.
    let q: Queue<String> = Queue::new().unwrap();
    for n in [1usize, 5000, 3, 70_000, 0, 200_000] {
        q.put("x".repeat(n)).unwrap();
        assert_eq!(q.get().unwrap().len(), n);
    }
    // try_put with a stale large guess still fits a small value into a nearly full queue.
    let small: Queue<String> = Queue::builder().capacity(4096).create().unwrap();
    small.put("y".repeat(3000)).unwrap();
    small.try_put("z".into()).unwrap();
    assert_eq!(small.qsize(), 2);
}

#[test]
fn corrupted_record_is_an_error_not_a_crash() {
    let _serial = serial();
    let _w = watchdog("corrupted_record_is_an_error_not_a_crash", 60);
    let q: Queue<Job> = Queue::new().unwrap();
    let bytes = ByteQueue::from_handle(q.handle()).unwrap();
    // Garbage where a Job should be: validation refuses it, the queue goes on.
    bytes.put(&[0xff; 40]).unwrap();
    bytes.put(&[]).unwrap();
    q.put(job(3, 10)).unwrap();
    assert!(matches!(q.get(), Err(GetError::Invalid(_))));
    assert!(matches!(q.get_ref(), Err(GetError::Invalid(_))));
    assert_eq!(q.get().unwrap(), job(3, 10));
    // A valid archive whose inner offsets are flipped at random never crashes the reader.
    let mut rng = common::Rng::from_env("corrupt");
    let clean = rkyv::to_bytes::<rkyv::rancor::Error>(&job(5, 64)).unwrap();
    let (mut invalid, mut valid) = (0, 0);
    for _ in 0..500 {
        let mut b = clean.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next_u64() as u8;
        }
        bytes.put(&b).unwrap();
        match q.get() {
            Ok(_) => valid += 1,
            Err(GetError::Invalid(e)) => {
                assert!(!e.to_string().is_empty());
                invalid += 1
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        invalid > 0,
        "random corruption was never detected ({valid} valid)"
    );
}

/// An item of a `JoinableQueue` that fails validation counts as taken, and no caller can
/// process it: it is settled at once, so `join` does not wait for a `task_done` that the
/// caller (holding only an error) would not think to call.
#[test]
fn an_invalid_joinable_item_is_settled_so_join_returns() {
    let _serial = serial();
    let _w = watchdog("invalid_joinable", 30);
    let q: JoinableQueue<bool> = JoinableQueue::new().unwrap();
    // The same queue seen as carrying `u8`s: a 2 is no valid `bool`.
    let bytes: JoinableQueue<u8> = JoinableQueue::from_handle(q.handle()).unwrap();
    bytes.put(2).unwrap();
    bytes.put(1).unwrap();
    bytes.put(2).unwrap();
    assert!(matches!(q.get(), Err(GetError::Invalid(_))));
    assert!(q.get().unwrap());
    assert!(matches!(q.get_ref(), Err(GetError::Invalid(_))));
    assert!(
        !q.join_timeout(Duration::from_millis(20)),
        "one valid task open"
    );
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_secs(5)));
    assert!(
        q.task_done().is_err(),
        "the invalid ones were settled, not left to call"
    );
}

#[test]
fn wrong_handle_kind_is_a_clear_error() {
    let _serial = serial();
    let (a, _b) = mp_queue::pipe::<u8>(true).unwrap();
    let h = a.handle().recv.unwrap();
    let e = Queue::<u8>::from_handle(h).unwrap_err();
    assert!(e.to_string().contains("Pipe"), "{e}");
    let raw = ipc_core::ring::Ring::builder().create().unwrap();
    raw.user_words()[0].store(0, Ordering::Release);
    assert!(Queue::<u8>::from_handle(raw.handle()).is_err());
    assert!("12".parse::<mp_queue::ConnectionHandle>().is_err());
    assert!(Queue::<u8>::open("/definitely-not-there").is_err());
}

/// Opening a queue or pipe with an item type whose archive has another size or alignment
/// than the creator's is refused with a clear error, by name and by handle; a type of the
/// same shape, and a byte queue's untyped ring, are accepted.
#[test]
fn the_wrong_item_type_is_a_clear_error() {
    let _serial = serial();
    let q: Queue<u64> = Queue::builder().create_named("wrong-type").unwrap();
    let e = Queue::<String>::open(q.name().unwrap()).unwrap_err();
    assert!(e.to_string().contains("String"), "{e}");
    assert!(e.to_string().contains("8 bytes aligned to 8"), "{e}");
    assert!(Queue::<(u32, u32, u32)>::from_handle(q.handle()).is_err());
    assert!(mp_queue::SimpleQueue::<u8>::from_handle(q.handle()).is_err());
    let same_shape: Queue<i64> = Queue::from_handle(q.handle()).unwrap();
    same_shape.put(-1).unwrap();
    assert_eq!(q.get().unwrap(), u64::MAX);

    let j: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    assert!(JoinableQueue::<[u64; 2]>::from_handle(j.handle()).is_err());

    let (a, _b) = mp_queue::pipe::<String>(true).unwrap();
    let h = a.handle().to_string();
    assert!(mp_queue::Connection::<u64>::from_handle(h.parse().unwrap()).is_err());
    assert!(mp_queue::Connection::<String>::from_handle(h.parse().unwrap()).is_ok());

    // A byte queue is untyped: any `Queue<T>` may read it, and it may read any queue.
    let raw = ByteQueue::new().unwrap();
    let typed: Queue<String> = Queue::from_handle(raw.handle()).unwrap();
    let typed2: Queue<u64> = Queue::from_handle(raw.handle()).unwrap();
    drop((typed, typed2));
    assert!(ByteQueue::from_handle(q.handle()).is_ok());
}

#[test]
fn a_misaligned_frame_header_is_an_error_not_a_panic() {
    let _serial = serial();
    let q = ByteQueue::new().unwrap();
    let e = q.put_framed(&[0u8; 8], &1u32, None).unwrap_err();
    assert!(e.to_string().contains("multiple of 16"), "{e}");
    assert!(q.try_put_framed(&[0u8; 24], &1u32).is_err());
    q.put_framed(&[0u8; 16], &1u32, None).unwrap();
    assert_eq!(q.qsize(), 1);
}

/// `put` reserves the last value's size as a guess; it must never wait for that guess.
#[test]
fn a_small_put_after_a_large_one_does_not_wait_for_the_large_ones_room() {
    let _serial = serial();
    let _w = watchdog("guess_wait", 30);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 * 1024).create().unwrap();
    q.put(vec![1; 40_000]).unwrap();
    // About 24 KiB left: not enough for another 40 KB reservation, plenty for this.
    q.put(vec![2; 10]).unwrap();
    assert_eq!(q.try_put(vec![3; 100]), Ok(()));
    assert_eq!(q.get().unwrap().len(), 40_000);
    assert_eq!(q.get().unwrap(), vec![2; 10]);
    assert_eq!(q.get().unwrap(), vec![3; 100]);
}

/// A value larger than its reservation cancels it (a padding record); that padding holds
/// no item place, so `maxsize` items still fit.
#[test]
fn a_cancelled_reservation_does_not_take_an_item_place() {
    let _serial = serial();
    let _w = watchdog("cancel_item", 30);
    let q: Queue<Vec<u8>> = Queue::builder().maxsize(2).create().unwrap();
    q.put(vec![1; 100]).unwrap();
    q.put(vec![2; 200]).unwrap(); // outgrows the 100-byte guess: cancelled, then pushed
    assert!(q.full());
    assert!(matches!(q.try_put(vec![3; 1]), Err(PutError::Full(_))));
    assert_eq!(q.get().unwrap(), vec![1; 100]);
    assert_eq!(q.get().unwrap(), vec![2; 200]);
    assert!(q.empty());
}

/// Byte batches across fork: `put_many` in the parent, `get_many` in the child, every
/// message intact and in order; a failed `put_many` says how many it put.
#[test]
fn byte_batches_across_fork() {
    let _serial = serial();
    let _w = watchdog("byte_batches", 30);
    let q = ByteQueue::with(Queue::builder().maxsize(16), None).unwrap();
    let msg = |i: usize| vec![i as u8; i * 13 % 200];
    let child = fork(|| {
        let mut got = Vec::new();
        while got.len() < 100 {
            let want = 100 - got.len();
            q.get_many(&mut got, want.min(7)).unwrap();
        }
        i32::from(got != (0..100).map(msg).collect::<Vec<_>>())
    });
    // More than the queue holds: put_many waits for the child as it goes.
    assert_eq!(q.put_many((0..100).map(msg)).unwrap(), 100);
    assert_eq!(reap(child), Ok(0));
    q.close();
    assert_eq!(q.put_many([b"late"]), Err(PutError::Closed(0)));
}

/// `reserve` across fork: a child writes messages in place (whole, shortened with
/// `commit_len`, or dropped uncommitted), waiting for room, and the parent gets exactly
/// the committed ones, in order and intact.
#[test]
fn reserved_messages_written_in_place_across_fork() {
    let _serial = serial();
    let _w = watchdog("reserve_fork", 30);
    let q = ByteQueue::with(Queue::builder().maxsize(8).capacity(256 * 1024), None).unwrap();
    let msg = |i: usize| -> Vec<u8> { (0..i * 997 % 70_000).map(|k| (k + i) as u8).collect() };
    let child = fork(|| {
        for i in 0..60 {
            let want = msg(i);
            match i % 3 {
                0 => {
                    let mut slot = q.reserve(want.len()).unwrap();
                    slot.copy_from_slice(&want);
                    slot.commit();
                }
                1 => {
                    let mut slot = q
                        .reserve_timeout(want.len() + 100, Duration::from_secs(20))
                        .unwrap();
                    slot[..want.len()].copy_from_slice(&want);
                    slot.commit_len(want.len());
                }
                _ => {
                    let mut slot = q.reserve(want.len()).unwrap();
                    slot.fill(0xEE);
                    drop(slot); // not committed: never seen
                }
            }
        }
        0
    });
    // Let the child fill the queue, so that its reservations wait for room.
    std::thread::sleep(Duration::from_millis(100));
    for i in (0..60).filter(|i| i % 3 != 2) {
        let got = q.get_ref_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(&*got, &msg(i)[..], "message {i}");
    }
    assert_eq!(reap(child), Ok(0));
    assert!(q.empty(), "an uncommitted slot was delivered");
}

/// `reserve`'s errors: too large at once, full now, full until the timeout (which it waits
/// out), closed.
#[test]
fn reserve_errors_are_clear() {
    let _serial = serial();
    let _w = watchdog("reserve_errors", 30);
    let q = ByteQueue::with(Queue::builder().maxsize(1).capacity(4096), None).unwrap();
    match q.reserve(4097) {
        Err(PutError::TooLarge { len, max, .. }) => assert_eq!((len, max), (4097, 4096)),
        other => panic!("{other:?}"),
    }
    q.reserve(10).unwrap().commit();
    assert!(matches!(q.try_reserve(10), Err(PutError::Full(()))));
    let t = Duration::from_millis(50);
    let start = std::time::Instant::now();
    assert!(matches!(
        q.reserve_timeout(10, t),
        Err(PutError::Timeout(()))
    ));
    assert!(start.elapsed() >= t);
    assert_eq!(q.get().unwrap().len(), 10);
    q.close();
    assert!(matches!(q.reserve(10), Err(PutError::Closed(()))));
}

/// A producer killed (SIGKILL) while it holds a reservation loses that message only: the
/// getter passes the dead slot and gets what was put after it.
#[test]
fn a_producer_killed_holding_a_reservation_loses_only_that_message() {
    let _serial = serial();
    let _w = watchdog("reserve_killed", 60);
    let q = ByteQueue::new().unwrap();
    let reserved = ByteQueue::new().unwrap();
    q.put(b"before").unwrap();
    let doomed = fork(|| {
        let mut slot = q.reserve(64).unwrap();
        slot.fill(1);
        reserved.put(b"holding").unwrap();
        std::thread::sleep(Duration::from_secs(60));
        slot.commit(); // not reached
        1
    });
    let t = Duration::from_secs(20);
    assert_eq!(reserved.get_timeout(t).unwrap(), b"holding");
    assert_eq!(q.qsize(), 2, "the child's slot is not held");
    common::kill(doomed);
    assert_eq!(reap(doomed), Err(libc::SIGKILL));
    q.put(b"after").unwrap();
    assert_eq!(q.get_timeout(t).unwrap(), b"before");
    assert_eq!(q.get_timeout(t).unwrap(), b"after");
    assert!(q.empty());
}

/// A value whose `Serialize` panics at 13: rkyv calls user code inside `put`.
#[derive(Debug, PartialEq)]
struct Boom(u32);

impl rkyv::Archive for Boom {
    type Archived = rkyv::Archived<u32>;
    type Resolver = ();
    fn resolve(&self, (): (), out: rkyv::Place<Self::Archived>) {
        self.0.resolve((), out);
    }
}

impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::Serialize<S> for Boom {
    fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
        assert_ne!(self.0, 13, "Boom's Serialize panics at 13");
        Ok(())
    }
}

impl<D: rkyv::rancor::Fallible + ?Sized> rkyv::Deserialize<Boom, D> for rkyv::rend::u32_le {
    fn deserialize(&self, _: &mut D) -> Result<Boom, D::Error> {
        Ok(Boom(self.to_native()))
    }
}

/// A `put` that panics in the value's own `Serialize` (caught, as a pool worker does)
/// leaves no task counted: `join` does not wait for a task that was never put, and the
/// queue goes on.
#[test]
fn a_put_that_panics_in_serialize_leaves_no_task_behind() {
    let _serial = serial();
    let q: JoinableQueue<Boom> = JoinableQueue::new().unwrap();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put(Boom(13))));
    std::panic::set_hook(quiet);
    assert!(r.is_err(), "Serialize panicked");
    assert_eq!(q.unfinished(), 0, "the panicked put took its task back");
    assert!(q.join_timeout(Duration::ZERO));
    assert!(q.task_done().is_err(), "nor does it count as taken");
    q.put(Boom(7)).unwrap();
    assert_eq!(q.get().unwrap(), Boom(7));
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));
}
