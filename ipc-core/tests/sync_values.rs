//! `Value`, `Array`, `RawValue`, `RawArray` and `SharedMemory` across processes: fork, handle
//! and name; type and bounds checks; a corrupted header gives an error, not a crash.

use ipc_core::segment::{Kind, Segment};
use ipc_core::sync::{Array, RawArray, RawValue, SharedMemory, Value, ViewError};
use ipc_core::testing::{fork, reap, watchdog};
use ipc_core::OpenError;

#[test]
fn an_array_is_shared_with_children_under_its_lock() {
    let _w = watchdog("an_array_is_shared_with_children_under_its_lock", 60);
    let a = Array::<u64>::zeroed(8).unwrap();
    let kids: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                for _ in 0..10_000 {
                    let g = a.lock().unwrap();
                    for i in 0..8 {
                        g.set(i, g.get(i).unwrap() + i as u64).unwrap();
                    }
                }
                0
            })
        })
        .collect();
    for k in kids {
        assert_eq!(reap(k), Ok(0));
    }
    let want: Vec<u64> = (0..8).map(|i| 30_000 * i).collect();
    assert_eq!(a.to_vec(), want);
}

#[test]
fn raw_values_and_arrays_cross_fork_handle_and_name() {
    let _w = watchdog("raw_values_and_arrays_cross_fork_handle_and_name", 30);
    let v = RawValue::create_named("mp-rs-sync-value", [1u16, 2, 3]).unwrap();
    let name = v.name().unwrap().to_owned();
    let a = RawArray::from_slice(&[0.5f64; 4]).unwrap();
    let h = a.handle();
    let child = fork(|| {
        let v2 = RawValue::<[u16; 3]>::open_named(&name).unwrap();
        let a2 = RawArray::<f64>::from_handle(h).unwrap();
        v2.set([4, 5, 6]);
        a2.set(3, 2.5).unwrap();
        0
    });
    assert_eq!(reap(child), Ok(0));
    assert_eq!(v.get(), [4, 5, 6]);
    assert_eq!(a.to_vec(), [0.5, 0.5, 0.5, 2.5]);
    // Another element type, or a Value opened as an Array, is refused.
    assert!(RawValue::<u64>::open_named(&name).is_err());
    assert!(Value::<[u16; 3]>::open_named(&name).is_err());
    assert!(RawArray::<u32>::from_handle(h).is_err());
}

#[test]
fn shared_memory_by_name_with_typed_views() {
    let _w = watchdog("shared_memory_by_name_with_typed_views", 30);
    let mut shm = SharedMemory::create(4096).unwrap();
    let name = shm.name().unwrap().to_owned();
    let child = fork(|| {
        let other = SharedMemory::open(&name).unwrap();
        if other.size() != 4096 {
            return 1;
        }
        let v = other.view::<u32>(1024, 16).unwrap();
        for i in 0..16 {
            v.set(i, i as u32 * 3).unwrap();
        }
        other.write(0, b"from the child").unwrap();
        0
    });
    assert_eq!(reap(child), Ok(0));
    let mut buf = [0u8; 14];
    shm.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"from the child");
    let v = shm.view::<u32>(1024, 16).unwrap();
    assert_eq!(v.to_vec(), (0..16).map(|i| i * 3).collect::<Vec<u32>>());
    assert_eq!(v.get(16), None);
    assert!(matches!(
        shm.view::<u32>(4090, 2),
        Err(ViewError::OutOfBounds { .. })
    ));
    assert!(matches!(
        shm.view::<u32>(2, 1),
        Err(ViewError::Misaligned { .. })
    ));
    assert!(matches!(
        shm.view::<u8>(0, usize::MAX),
        Err(ViewError::OutOfBounds { .. })
    ));
    assert!(shm.read(4095, &mut [0u8; 2]).is_err());
    shm.unlink().unwrap();
    assert!(SharedMemory::open(&name).is_err());
    assert_eq!(shm.read_at::<u32>(1024 + 4).unwrap(), 3);
}

#[test]
fn corrupted_headers_are_errors() {
    let _w = watchdog("corrupted_headers_are_errors", 30);
    // A SharedMemory whose size word claims more than the segment holds.
    let shm = SharedMemory::create(64).unwrap();
    let seg = Segment::from_handle(shm.handle(), Kind(0x5359_4E0D)).unwrap();
    // SAFETY: the size word is the first 8 bytes of the 64-byte aligned payload.
    let size = unsafe { &*(seg.payload_ptr() as *const std::sync::atomic::AtomicU64) };
    size.store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
    assert!(SharedMemory::from_handle(shm.handle()).is_err());
    // An Array whose length claims more than the segment holds. The header is private:
    // find the length word as the only 8-byte word of the 64-byte header equal to the
    // length (the lock is free and zero; element size and alignment pack to 4 | 4 << 32).
    let a = Array::<u32>::zeroed(5).unwrap();
    let seg = Segment::from_handle(a.handle(), Kind(0x5359_4E0B)).unwrap();
    let word = |at: usize| {
        // SAFETY: the payload is 64-byte aligned and holds the 64-byte header; `at` is a
        // multiple of 8 below 64.
        unsafe { &*(seg.payload_ptr().add(at) as *const std::sync::atomic::AtomicU64) }
    };
    let at: Vec<usize> = (0..64)
        .step_by(8)
        .filter(|&at| word(at).load(std::sync::atomic::Ordering::SeqCst) == 5)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the length word is not unique in the header: {at:?}"
    );
    word(at[0]).store(1 << 40, std::sync::atomic::Ordering::SeqCst);
    // The element type still matches, so it is the length check that refuses it.
    assert!(matches!(
        Array::<u32>::from_handle(a.handle()),
        Err(OpenError::TooSmall { .. })
    ));
    // The live handle keeps the length it checked at open: still bounded.
    assert_eq!(a.get(5), None);
    assert_eq!(a.len(), 5);
}
