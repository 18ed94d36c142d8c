//! Python's `multiprocessing.Pool` (`apply_async`, `map`, `imap`, `starmap`) over
//! `mp-queue` and `mp-process`, with workers that may die without hanging the pool.
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape.
