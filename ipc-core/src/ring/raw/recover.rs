//! Recovery from dead participants: a writer that died before publishing, a reader that
//! died holding a record, and the scans that find them. See `../README.md`, "What a
//! SIGKILL at each point costs".

use super::*;

impl RawRing {
    /// The writer of record `seq` died before publishing it: turn it into padding.
    pub(crate) fn abandon_write(&self, seq: u32, cur: u64) -> Result<(), Corrupted> {
        let c = self.ctl();
        let d = self.desc(seq);
        if d.claim
            .compare_exchange(
                cur,
                word(seq, PADDING, 0),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Ok(()); // it changed: published after all, or another process recovered it
        }
        c.paddings.fetch_add(1, Ordering::Relaxed);
        // A writer that died between its claim and its extent store left the extent of
        // an earlier lap: the record holds nothing then, and whoever steps past it next
        // knows where it starts and gives it an empty extent (`step_past`,
        // `released_run`).
        self.not_empty().notify(u32::MAX);
        self.advance_free()
    }

    /// Gives padding `s`, whose writer died between its claim and its extent store, the
    /// empty extent `(s, start)`: nothing was written, so it ends where it starts. Called
    /// by whoever steps past it first (`step_past`, `released_run`), which knows `start`.
    /// Only over an earlier lap's extent `ext`: until `s` has its extent the free cursor
    /// cannot pass it, so no later lap can have claimed the descriptor. An extent from a
    /// later lap means the caller's `PADDING(s)` was stale, and nothing is written.
    pub(super) fn stamp_abandoned(&self, s: u32, ext: u64, start: u32) {
        if (s.wrapping_sub(seq_of(ext)) as i32) > 0 {
            // SYNC: a CAS from the value seen, so two stampers write one extent; pairs
            // with the Acquire loads of the extent in `step_past` and `released_run`.
            let _ = self.desc(s).extent.compare_exchange(
                ext,
                pack(s, start),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// The reader of record `seq` died holding it: release it.
    pub(crate) fn abandon_read(&self, seq: u32, cur: u64) -> Result<(), Corrupted> {
        let d = self.desc(seq);
        if d.claim
            .compare_exchange(cur, word(seq, DONE, 0), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.advance_free()?;
        }
        Ok(())
    }

    /// The claim word at the free cursor (the oldest unreleased record), if in use. Call
    /// `advance_free` first: consumers leave released records behind the cursor for a
    /// few records at a time.
    pub(crate) fn oldest_held(&self) -> Option<(u32, u64)> {
        let fs = seq_of(self.ctl().free.0.load(Ordering::Acquire));
        let cur = self.desc(fs).claim.load(Ordering::Acquire);
        (seq_of(cur) == fs && state_of(cur) == READING).then_some((fs, cur))
    }

    /// Every in-flight claim word owned by `owner`, from the free cursor to the tail.
    pub(crate) fn owned_by(&self, owner: u32, mut f: impl FnMut(u32, u64)) {
        let fs = seq_of(self.ctl().free.0.load(Ordering::Acquire));
        let ts = self.tail_now();
        let n = ts.wrapping_sub(fs).min(self.lay.n_desc);
        for i in 0..=n {
            let s = fs.wrapping_add(i);
            let cur = self.desc(s).claim.load(Ordering::Acquire);
            if seq_of(cur) == s
                && matches!(state_of(cur), WRITING | READING)
                && owner_of(cur) == owner
            {
                f(s, cur);
            }
        }
    }
}
