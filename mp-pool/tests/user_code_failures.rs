//! Beyond Python: user code the pool runs in the parent (the arguments' `Serialize`, the
//! results' `Deserialize`, result callbacks) that panics or waits where it cannot fails
//! its own items, with an error that says why, and the pool goes on. Also a call too
//! large to count.

use std::sync::Arc;
use std::time::Duration;

use ipc_core::testing::watchdog;
use mp_pool::{Pool, PoolError, TaskError};
use mp_queue::rkyv;

mp_process::hook!();

/// A `u32` whose `Serialize` panics at 13 (a put in the parent, when the pool sends it).
#[derive(Debug, PartialEq)]
struct SendsBadly(u32);

/// A `u32` whose `Deserialize` panics at 13 (a take in the parent, when a result comes).
#[derive(Debug, PartialEq)]
struct ArrivesBadly(u32);

macro_rules! plain_u32 {
    ($t:ident, $ser_panics:expr, $de_panics:expr) => {
        impl rkyv::Archive for $t {
            type Archived = rkyv::rend::u32_le;
            type Resolver = ();
            fn resolve(&self, (): (), out: rkyv::Place<Self::Archived>) {
                self.0.resolve((), out);
            }
        }
        impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::Serialize<S> for $t {
            fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
                assert!(!($ser_panics && self.0 == 13), "Serialize panics at 13");
                Ok(())
            }
        }
        impl<D: rkyv::rancor::Fallible + ?Sized> rkyv::Deserialize<$t, D> for rkyv::rend::u32_le {
            fn deserialize(&self, _: &mut D) -> Result<$t, D::Error> {
                let v = self.to_native();
                assert!(!($de_panics && v == 13), "Deserialize panics at 13");
                Ok($t(v))
            }
        }
    };
}
plain_u32!(SendsBadly, true, false);
plain_u32!(ArrivesBadly, false, true);

fn twice(x: SendsBadly) -> u32 {
    x.0 * 2
}

fn wrap(x: u32) -> ArrivesBadly {
    ArrivesBadly(x)
}

fn sqr(x: u64) -> u64 {
    x * x
}

/// Waits until the named event is set (at most 30 s), then answers.
fn when_released(event: String) -> u64 {
    let released = ipc_core::sync::Event::open_named(&event).unwrap();
    u64::from(released.wait_timeout(Duration::from_secs(30)))
}

fn nothing(_: ()) {}

#[test]
fn a_panicking_serialize_or_deserialize_fails_its_item_only() {
    let _w = watchdog("serialize_panics", 60);
    let pool = Pool::new(2).unwrap();
    let sent = pool
        .map(twice, [1, 13, 2].map(SendsBadly), Some(1))
        .unwrap();
    assert_eq!(sent[0], Ok(2));
    assert!(
        matches!(&sent[1], Err(TaskError::Failed(m)) if m.contains("serializ")),
        "{:?}",
        sent[1]
    );
    assert_eq!(sent[2], Ok(4));
    let got = pool.map(wrap, [1, 13, 2], Some(1)).unwrap();
    assert_eq!(got[0], Ok(ArrivesBadly(1)));
    assert!(
        matches!(&got[1], Err(TaskError::Failed(m)) if m.contains("decod")),
        "{:?}",
        got[1]
    );
    assert_eq!(got[2], Ok(ArrivesBadly(2)));
    assert_eq!(pool.apply(sqr, 5), Ok(25), "the pool goes on");
}

/// A callback runs on the thread that delivers results: waiting there, with no timeout,
/// for another result of the same pool would wait for good. It panics with a message
/// instead (the panic is reported, as any callback's), and the pool goes on.
#[test]
fn a_callback_waiting_for_its_own_pool_gets_a_panic_not_a_deadlock() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static REFUSED: AtomicBool = AtomicBool::new(false);
    let _w = watchdog("callback_waits", 60);
    let pool = Pool::new(2).unwrap();
    // A result that comes only when the test says so: the callback surely waits for it.
    let release = ipc_core::sync::Event::create_named("mp-pool-callback-waits").unwrap();
    let name = release.name().unwrap().to_owned();
    let slow = Arc::new(pool.apply_async(when_released, name).unwrap());
    let in_callback = Arc::clone(&slow);
    let quick = pool
        .apply_async_with(
            sqr,
            3,
            move |_| {
                let wait = std::panic::AssertUnwindSafe(|| in_callback.wait());
                let waited = std::panic::catch_unwind(wait);
                REFUSED.store(waited.is_err(), Ordering::SeqCst);
            },
            |_| (),
        )
        .unwrap();
    assert_eq!(quick.get_timeout(Duration::from_secs(30)), Ok(9));
    assert!(
        REFUSED.load(Ordering::SeqCst),
        "the wait was refused, with a panic"
    );
    release.set();
    assert!(slow.wait_timeout(Duration::from_secs(30)));
    let slow = Arc::into_inner(slow).expect("the callback's clone is gone");
    assert_eq!(slow.get(), Ok(1), "released, not timed out");
    assert_eq!(pool.apply(sqr, 4), Ok(16), "the pool goes on");
}

/// A call of 2^32 chunks is refused at once (a chunk's index is 32 bits), before any
/// store for its results is made.
#[test]
fn a_call_of_too_many_chunks_is_refused() {
    let pool = Pool::new(1).unwrap();
    // Zero-sized items take no memory; chunksize 1 makes one chunk of each.
    let mut items: Vec<()> = Vec::new();
    // SAFETY: a `Vec` of a zero-sized type has room for any length, and `()` needs no
    // initializing (counting them out one by one would take a debug build 20 s).
    #[allow(clippy::uninit_vec)]
    unsafe {
        items.set_len(1 << 32)
    };
    assert!(matches!(
        pool.map(nothing, items, Some(1)),
        Err(PoolError::TooManyChunks(n)) if n == 1 << 32
    ));
}

fn exits_at_once() {
    mp_process::exit(3);
}

/// An initializer that ends its worker makes every worker die before its first task.
/// Python starts new ones for good, and the work waits for good; this pool gives up on
/// the work after a few in a row, saying why, and keeps trying to start workers.
#[test]
fn an_initializer_that_ends_every_worker_fails_the_work_not_hangs_it() {
    let _w = watchdog("initializer_exits", 60);
    let pool = Pool::builder()
        .processes(2)
        .initializer(exits_at_once)
        .build()
        .unwrap();
    let got = pool.map(sqr, [1u64, 2, 3], Some(1)).unwrap();
    for r in &got {
        assert!(
            matches!(r, Err(TaskError::Failed(m)) if m.contains("initializer")),
            "{r:?}"
        );
    }
    pool.terminate();
}
