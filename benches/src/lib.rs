//! Helpers shared by the benches: forking a peer process and reaping it.
