//! Python's `multiprocessing.Queue`, `JoinableQueue`, `SimpleQueue` and `Pipe`, typed with
//! rkyv and carried by the [`ipc_core::ring`].
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape. Until
//! it lands, use [`ipc_core::ring::Ring`] directly for byte records between processes.
