//! The consumer's side of the protocol: taking the head record, checking where its payload
//! lies, releasing it, and moving the free cursor. See `../README.md`, "Take" and
//! "Release".

use super::*;

impl RawRing {
    /// Takes the record at the head for participant `me`, if one is ready, starting from
    /// the later of `hint` (where this handle last took) and the head cursor.
    #[inline]
    pub(crate) fn try_take(&self, me: u32, hint: &Hint) -> Result<Taken, Corrupted> {
        self.look::<true>(me, hint)
    }

    /// Whether a record is ready at the head, without taking it: [`Taken::Ready`] where
    /// [`try_take`](Self::try_take) would take it. Paddings at the head are passed as
    /// `try_take` passes them.
    pub(crate) fn try_peek(&self, me: u32, hint: &Hint) -> Result<Taken, Corrupted> {
        self.look::<false>(me, hint)
    }

    /// `try_take` (`TAKE`) or `try_peek`: one loop, so that both pass the head the same way.
    #[inline(always)]
    fn look<const TAKE: bool>(&self, me: u32, hint: &Hint) -> Result<Taken, Corrupted> {
        let c = self.ctl();
        // SYNC: only where to start; each descriptor on the way is checked.
        let head_seen = c.head.0.load(Ordering::Acquire);
        // Every record before `h` is taken or passed (see `Hint`). A place read from
        // shared memory is checked against the descriptor before it.
        let mine = hint.get();
        let mut h = seq_of(self.start_from(mine, pack(head_seen, 0)));
        if h != seq_of(mine) {
            self.check_start(h, taken_or_passed)?;
        }
        for _ in 0..MAX_RETRIES {
            let d = self.desc(h);
            // SYNC: acquires the release store in `publish` (SeqCst for the wake handshake
            // when this is a sleeper's re-check).
            let cur = d.claim.load(Ordering::SeqCst);
            let (cs, st) = (seq_of(cur), state_of(cur));
            if cs != h {
                if (cs.wrapping_sub(h) as i32) < 0 {
                    hint.set(pack(h, 0));
                    return Ok(Taken::Empty); // descriptor still on an earlier lap
                }
                // A later lap: the free cursor passed `h` since we chose it (records it
                // passes are released, or passed paddings), so start again from there.
                // SYNC: only where to start again; checked below, as at the start.
                let f = seq_of(c.free.0.load(Ordering::Acquire));
                let now = later_seq(f, c.head.0.load(Ordering::Acquire));
                if (now.wrapping_sub(h) as i32) <= 0 {
                    return Err(corrupted("record descriptor is ahead of the head"));
                }
                self.check_start(now, taken_or_passed)?;
                h = now;
                continue;
            }
            match st {
                FREE => {
                    hint.set(pack(h, 0));
                    return Ok(Taken::Empty);
                }
                WRITING => {
                    hint.set(pack(h, 0));
                    return Ok(Taken::Busy { seq: h, word: cur });
                }
                READY if !TAKE => return Ok(Taken::Ready),
                READY => {
                    let mine = word(h, READING, me);
                    // SYNC: acquires the payload published by `publish`.
                    if d.claim
                        .compare_exchange(cur, mine, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    let next = h.wrapping_add(1);
                    hint.set(pack(next, 0));
                    // The head cursor moves every few records, not on each (one locked
                    // instruction fewer per take); consumers find their place by `hint`.
                    if next.wrapping_sub(head_seen) >= self.lay.free_batch {
                        self.raise_head(next);
                    }
                    return match self.payload_range(h) {
                        Ok((off, inline, len)) => Ok(Taken::Record(ReadClaim {
                            seq: h,
                            off,
                            inline,
                            len,
                        })),
                        Err(e) => {
                            self.release(h)?;
                            Err(e)
                        }
                    };
                }
                PADDING => {
                    self.pass_padding(h);
                    self.advance_free()?;
                    h = h.wrapping_add(1); // passed, by this call or another
                }
                READING | DONE => h = h.wrapping_add(1), // taken by another consumer
                _ => return Err(corrupted("record state is unknown")),
            }
        }
        hint.set(pack(h, 0));
        Ok(Taken::Empty) // contended or stuck: callers treat it as empty and wait
    }

    /// Passes the padding record `h`, unless another call did: moves the head cursor up
    /// to it (every record before it is taken or passed), then from `h` to `h + 1`; that
    /// CAS decides who passes it. The count of paddings drops first and comes back if
    /// the move fails, so a reading in between (or a crash) can only make producers'
    /// room checks stricter, never let one record past `maxsize`.
    pub(super) fn pass_padding(&self, h: u32) {
        let c = self.ctl();
        self.raise_head(h);
        c.paddings.fetch_sub(1, Ordering::Relaxed);
        // SYNC: the cursor, as in `raise_head` (a padding carries no payload to acquire).
        let moved = c
            .head
            .0
            .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if !moved {
            c.paddings.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Checks a record's payload lies inside its extent and the data area, or inside its
    /// descriptor when the extent is empty. Returns `(offset, inline, len)`.
    #[inline(always)]
    fn payload_range(&self, seq: u32) -> Result<(usize, bool, usize), Corrupted> {
        let d = self.desc(seq);
        let data = d.data.load(Ordering::Relaxed);
        let (start, len) = (seq_of(data), lo(data) as usize);
        let ext = d.extent.load(Ordering::Acquire);
        let phys = start & (self.lay.cap_units - 1);
        let span = lo(ext).wrapping_sub(start);
        let bad = || corrupted("record length or offset is out of range");
        if seq_of(ext) != seq {
            return Err(bad());
        }
        if span == 0 {
            return if len <= INLINE {
                Ok((0, true, len))
            } else {
                Err(bad())
            };
        }
        let units = units_for(len) as u32;
        if units > span || span > self.lay.cap_units || phys + units > self.lay.cap_units {
            return Err(bad());
        }
        Ok((phys as usize * UNIT, false, len))
    }

    /// Ends a read: the record's space may be reused.
    ///
    /// The free cursor moves only every `free_batch` records, or once this record ends a
    /// quarter of the capacity past it, or when the record's extent is not its own (for
    /// `advance_free` to judge), or while a producer is registered as a waiter for room:
    /// a producer blocked on a full ring reads `free` while it spins, and moving it on
    /// every record made the consumer, the slow side then, win that line back each time.
    #[inline]
    pub(crate) fn release(&self, seq: u32) -> Result<(), Corrupted> {
        let d = self.desc(seq);
        // SYNC: the store's release half orders our payload reads before the space is
        // reused (pairs with the Acquire of the claim in `advance_free`). A handshake store
        // (`fence::publish`) for a producer going to sleep: with our load of the waiter
        // count below, either we see it waiting, or the `advance_free` it makes after
        // `prepare_heavy` sees this `DONE`.
        crate::fence::publish(&d.claim, word(seq, DONE, 0));
        let c = self.ctl();
        // A hint for whether a batch is due; `advance_free` reads the cursor again.
        let f = c.free.0.load(Ordering::Relaxed);
        let ext = d.extent.load(Ordering::Relaxed);
        let due = seq.wrapping_sub(seq_of(f)) >= self.lay.free_batch - 1
            || lo(ext).wrapping_sub(lo(f)) >= self.lay.cap_units / 4
            || seq_of(ext) != seq;
        if due || self.not_full().has_waiters() {
            self.advance_free()?;
        }
        Ok(())
    }

    /// Moves the free cursor over every released record after it, waking producers: one
    /// CAS over the whole run of released records (consumers call this every few records,
    /// see `release`).
    pub(crate) fn advance_free(&self) -> Result<(), Corrupted> {
        let c = self.ctl();
        for _ in 0..MAX_RETRIES {
            // SYNC: SeqCst, for the wake handshake in `release` (a producer advances after
            // registering as a waiter); the CAS below confirms the value.
            let f = c.free.0.load(Ordering::SeqCst);
            let (s, end, cut) = self.released_run(f)?;
            if s == seq_of(f) {
                return Ok(()); // nothing released after the cursor
            }
            // SYNC: releases the space to producers (pairs with the SeqCst load in
            // `try_claim`); SeqCst for the wake handshake with sleeping producers.
            // The descriptors keep `DONE`: the producer of `s + n_desc` claims one from
            // that state directly, which saves the consumers a CAS per record.
            let mut expect = f;
            loop {
                match c.free.0.compare_exchange(
                    expect,
                    pack(s, end),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if cut => {
                        // Our run stopped short, a capacity past a cursor value others
                        // had moved on from: what lies beyond may be released too, and a
                        // producer about to sleep counts on this call to see it.
                        self.not_full().notify_all_once();
                        break;
                    }
                    Ok(_) => {
                        self.not_full().notify_all_once();
                        return Ok(());
                    }
                    // Another advance moved the cursor part of the way: the rest of our
                    // run is still released and behind no one, so go on from there
                    // instead of scanning it again.
                    Err(cur)
                        if seq_of(cur).wrapping_sub(seq_of(expect)) as i32 > 0
                            && (s.wrapping_sub(seq_of(cur)) as i32) > 0 =>
                    {
                        expect = cur;
                    }
                    Err(_) => break, // moved past our run, or back: look again
                }
            }
        }
        Ok(())
    }

    /// The end of the run of released (`DONE`/`PADDING`) records from free cursor `f`: the
    /// first record not released, where the run's space ends, and whether the run was cut
    /// short a capacity past `f` because the cursor moved on meanwhile (look again from
    /// the new one). A padding at or past the head cursor ends the run: no consumer has
    /// passed it yet, and the count of paddings still holds it.
    pub(super) fn released_run(&self, f: u64) -> Result<(u32, u32, bool), Corrupted> {
        let c = self.ctl();
        // An older value only ends the run sooner.
        let h = c.head.0.load(Ordering::Acquire);
        let (mut s, mut end) = (seq_of(f), lo(f));
        // At most `n_desc` records lie between the free cursor and the tail; the bound
        // also stops a corrupted ring from keeping us here.
        for _ in 0..self.lay.n_desc {
            let d = self.desc(s);
            // SYNC: pairs with the release store of `DONE` in `release` (the reader is done
            // with the bytes before we hand them back) and with the stores of `PADDING`.
            let cur = d.claim.load(Ordering::Acquire);
            let st = state_of(cur);
            if seq_of(cur) != s || !matches!(st, DONE | PADDING) {
                break;
            }
            if st == PADDING && (s.wrapping_sub(h) as i32) >= 0 {
                break;
            }
            // SYNC: pairs with the Release store of the extent in `try_claim` and the
            // recovery CASes.
            let mut ext = d.extent.load(Ordering::Acquire);
            if st == PADDING && seq_of(ext) != s {
                self.stamp_abandoned(s, ext, end); // its writer died before the extent
                ext = d.extent.load(Ordering::Acquire);
            }
            if seq_of(ext) != s {
                break; // recycled for a later lap since we read its state: moved already
            }
            let e = lo(ext);
            if e.wrapping_sub(end) > self.lay.cap_units {
                return Err(corrupted("record extent is out of range"));
            }
            if e.wrapping_sub(lo(f)) > self.lay.cap_units {
                // More than a capacity past `f`: other freers moved the cursor while we
                // scanned, and that space has been claimed again since (records in the
                // data area fill the capacity long before the descriptors run out, so the
                // run of released records can go on), or the ring is corrupted.
                if c.free.0.load(Ordering::SeqCst) != f {
                    return Ok((s, end, true));
                }
                return Err(corrupted("record extent is out of range"));
            }
            s = s.wrapping_add(1);
            end = e;
        }
        Ok((s, end, false))
    }
}
