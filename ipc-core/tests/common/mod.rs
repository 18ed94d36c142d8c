//! The shared real-process helpers, under the short names the tests use.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub use ipc_core::testing::{fork, kill, reap, serial, watchdog, Rng};

pub fn seed(name: &str) -> u64 {
    Rng::from_env(name).0
}
