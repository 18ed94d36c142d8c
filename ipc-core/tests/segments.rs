//! Named segments across fork: only the creator removes the name.

use std::mem::ManuallyDrop;

use ipc_core::segment::{Kind, Segment};
use ipc_core::testing::{fork, reap, watchdog};

#[test]
fn a_forked_child_dropping_its_copy_does_not_unlink_the_name() {
    let _w = watchdog("fork_unlink", 30);
    let seg = ManuallyDrop::new(Segment::create_named("seg-fork", 64, Kind(7)).unwrap());
    let name = seg.name().unwrap().to_string();
    let child = fork(|| {
        // SAFETY: the child owns its copy of the parent's memory; this drop runs once, here.
        let copy: Segment = unsafe { std::ptr::read(&*seg) };
        drop(copy);
        0
    });
    assert_eq!(reap(child), Ok(0));
    assert!(
        Segment::open_named(&name, Kind(7)).is_ok(),
        "a forked child removed the creator's name"
    );
    drop(ManuallyDrop::into_inner(seg));
    assert!(
        Segment::open_named(&name, Kind(7)).is_err(),
        "the creator did not remove it"
    );
}
