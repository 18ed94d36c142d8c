//! A test binary WITHOUT `mp_process::hook!()`: spawn and forkserver must fail to start
//! with a clear error, and the re-executed binary must not run its tests again.

use ipc_core::testing::watchdog;
use mp_process::{Process, StartMethod};

fn nothing(_: ()) {}

#[test]
fn spawn_and_forkserver_report_the_missing_hook() {
    let _w = watchdog("no hook", 60);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = Process::builder()
            .start_method(m)
            .entry(nothing, &())
            .unwrap();
        let e = p.start().unwrap_err();
        assert!(e.is_hook_missing(), "{m}: {e}");
        eprintln!("{m}: {e}");
        assert!(e.to_string().contains("mp_process::init()"), "{e}");
        assert_eq!(p.pid(), None);
    }
    // Fork needs no hook.
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .entry(nothing, &())
        .unwrap();
    p.start().unwrap();
    assert_eq!(p.join(), Some(0));
}
