//! Python's `multiprocessing.Process`: fork, spawn and forkserver start methods, exit codes,
//! daemons, `current_process` and `cpu_count`.
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape.
