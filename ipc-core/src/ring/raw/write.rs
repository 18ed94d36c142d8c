//! The producer's side of the protocol: claiming room (and wrap paddings), stepping past
//! others' claims from a lagging tail cursor, publishing, and withdrawing a claim. See
//! `../README.md`, "Claim", "Publish" and "Cursors".

use super::*;

impl RawRing {
    /// Claims space for a record of `len` bytes for participant `me`, starting from the
    /// later of `hint` (this handle's last claim) and the tail cursor.
    /// `Ok(None)`: no room right now (in items or bytes).
    ///
    /// A producer spinning on a full ring calls it in a loop, so when there is no room it
    /// reads only `free` and the count of paddings, not the lines consumers write on
    /// every record (the head, the head's descriptor): it moves the head over paddings
    /// only while that count says there are some.
    /// [`try_claim_exact`](Self::try_claim_exact) always does.
    #[inline]
    pub(crate) fn try_claim(
        &self,
        me: u32,
        len: usize,
        hint: &Hint,
    ) -> Result<Option<WriteClaim>, Corrupted> {
        let units = claim_units(len);
        debug_assert!(units <= self.lay.cap_units as usize);
        let c = self.ctl();
        let mask = self.lay.cap_units - 1;
        let (mut fresh, mut seen) = (false, 0);
        // SYNC: only where to start; each descriptor on the way is checked.
        let tail_seen = c.tail.0.load(Ordering::Acquire);
        // Where the next record starts, `seq:32 | pos:32`: every record before it is
        // claimed (see `Hint`). A place read from shared memory is checked against the
        // descriptor before it (`checked`: the last place known good).
        let mut checked = hint.get();
        let mut at = self.start_from(checked, tail_seen);
        for _ in 0..MAX_RETRIES {
            let free = if fresh {
                // SYNC: pairs with the SeqCst CAS in `advance_free`: space it released is
                // free. The Release store hands that on to readers of `free_seen`; it is
                // skipped when nothing moved, so producers spinning on a full ring do not
                // pass that line between them.
                let f = c.free.0.load(Ordering::SeqCst);
                if f != seen {
                    c.free_seen.0.store(f, Ordering::Release);
                }
                f
            } else {
                // SYNC: pairs with the Release store above (in whichever producer made it).
                seen = c.free_seen.0.load(Ordering::Acquire);
                seen
            };
            // The free cursor is a place to start from too (every record before it was
            // claimed and released): a start behind it is stale.
            at = later(at, free);
            let (s, pos) = (seq_of(at), lo(at));
            let (in_items, in_units) = (s.wrapping_sub(seq_of(free)), pos.wrapping_sub(lo(free)));
            let out_of_range = in_items > self.lay.n_desc || in_units > self.lay.cap_units;
            if !fresh && out_of_range {
                fresh = true; // a stale copy: look at `free` itself
                continue;
            }
            if out_of_range {
                if c.free.0.load(Ordering::SeqCst) != free {
                    continue; // the free cursor moved between our loads
                }
                return Err(corrupted("ring cursors are out of range"));
            }
            let Some((pad, need)) = self.room(in_items, in_units, pos, units as u32) else {
                if !fresh {
                    fresh = true; // the copy may be stale: is there really no room?
                    continue;
                }
                // No room at `at`, so none further on either: every record between it
                // and the true tail only takes more.
                hint.set(at);
                // Paddings at the head hold room that no consumer may come to pass. The
                // count is only a hint (a crash can leave it one short), which is why the
                // exact looks pass paddings whatever it says; here it keeps a spinning
                // producer off the head's lines while there are none.
                if c.paddings.load(Ordering::Relaxed) != 0 && self.skip_padding()? {
                    continue;
                }
                return Ok(None);
            };
            if at != checked {
                self.check_start(s, claimed)?;
                checked = at;
            }
            let d = self.desc(s);
            // The descriptor is ready for record `s` when it is fresh (`FREE(s)`) or still
            // holds last lap's released record: the room check above saw `free` past
            // `s - n_desc`, and nobody but a claimer changes a record behind `free`.
            // SYNC: the expected value of the CAS below; Acquire for `step_past`, which
            // reads the extent stored before the state it saw (free on x86).
            let cur = d.claim.load(Ordering::Acquire);
            let last_lap = s.wrapping_sub(self.lay.n_desc);
            let ready = cur == word(s, FREE, 0)
                || cur == word(last_lap, DONE, 0)
                || cur == word(last_lap, PADDING, 0);
            if !ready {
                at = self.step_past(at, cur)?;
                continue;
            }
            // SYNC: the claim's acquire half orders our later extent/data/payload writes
            // after the previous lap's release (the consumer's Release store of `DONE`).
            // SeqCst (the same locked op on x86) so that a producer's check that its handle
            // is still open, made after claiming, is ordered after the claim (see
            // `Producer::close`).
            match d.claim.compare_exchange(
                cur,
                word(s, WRITING, me),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let end = pos.wrapping_add(need);
                    // SYNC: publishes the extent to producers stepping past this record
                    // and to the freer (pairs with their Acquire loads).
                    d.extent.store(pack(s, end), Ordering::Release);
                    at = pack(s.wrapping_add(1), end);
                    checked = at;
                    hint.set(at);
                    self.move_tail(tail_seen, at);
                    if pad {
                        self.set_padding(s);
                        continue;
                    }
                    d.data.store(pack(pos, len as u32), Ordering::Relaxed);
                    let off = (pos & mask) as usize * UNIT;
                    return Ok(Some(WriteClaim {
                        seq: s,
                        off,
                        inline: units == 0,
                        len,
                        owner: me,
                    }));
                }
                Err(cur) => at = self.step_past(at, cur)?,
            }
        }
        hint.set(at); // where this search got to
        Ok(None) // contended or stuck: callers treat it as full and wait
    }

    /// Moves the tail cursor from `seen` to `to`, the place after a record just claimed,
    /// once it lags `free_batch` records behind: a CAS on the cursor every few records
    /// rather than one per record. A failed CAS means another producer moved it.
    #[inline]
    fn move_tail(&self, seen: u64, to: u64) {
        if seq_of(to).wrapping_sub(seq_of(seen)) >= self.lay.free_batch {
            // SYNC: every record before `to` is claimed, and `to` is where the next starts
            // (our extent's end); the cursor is only where others start looking.
            let _ =
                self.ctl()
                    .tail
                    .0
                    .compare_exchange(seen, to, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// [`try_claim`](Self::try_claim) for a caller that needs an exact answer before it
    /// reports "full" or sleeps: when there is no room, it also moves the head over the
    /// paddings there and frees their space, then tries again. Consumers pass paddings
    /// as they take, but while none is taking, a ring whose places are held by paddings
    /// (cancelled reservations, a wrap) has room only this way.
    pub(crate) fn try_claim_exact(
        &self,
        me: u32,
        len: usize,
        hint: &Hint,
    ) -> Result<Option<WriteClaim>, Corrupted> {
        for _ in 0..MAX_RETRIES {
            if let Some(claim) = self.try_claim(me, len, hint)? {
                return Ok(Some(claim));
            }
            if !self.skip_padding()? {
                return Ok(None);
            }
        }
        Ok(None) // paddings keep appearing: callers treat it as full and wait
    }

    /// What a claim of `units` at tail position `pos` may take, with `in_items` records
    /// and `in_units` units between `free` and the tail: `(true, n)` for a wrap padding of
    /// the `n` units left before the end (the record follows it), `(false, units)` for the
    /// record itself, `None` when there is no room now.
    #[inline]
    fn room(&self, in_items: u32, in_units: u32, pos: u32, units: u32) -> Option<(bool, u32)> {
        let cap = self.lay.cap_units;
        let room_to_end = cap - (pos & (cap - 1));
        if units > room_to_end {
            // A wrap padding is claimed only when the record fits right after it, or when
            // the ring holds nothing else (it then waits for the padding to be skipped). A
            // padding claimed for a record that still does not fit would hold the rest of
            // the lap's space from smaller records while that one waits.
            let fits = in_units == 0 || in_units + room_to_end + units <= cap;
            return (in_items < self.lay.n_desc && fits).then_some((true, room_to_end));
        }
        let items = in_items < self.lay.maxsize || self.pads_leave_room(in_items);
        (items && in_units + units <= cap).then_some((false, units))
    }

    /// Whether a real record fits in items although `in_items` (records claimed and not
    /// yet freed) reached `maxsize`: paddings ahead of the head (cancelled reservations,
    /// wraps, abandoned writes) hold descriptors but are not items. Two descriptors stay
    /// spare for wrap paddings. Read only when the ring looks full, so the `paddings` line
    /// stays off the claim's fast path.
    pub(super) fn pads_leave_room(&self, in_items: u32) -> bool {
        // Checked first: it also keeps `in_items` (read from shared memory) small enough
        // for the clamp below, whose bounds would cross for a corrupted count of 2^31.
        if in_items >= self.lay.n_desc - 2 {
            return false;
        }
        // The count can be briefly negative (a consumer passed a padding before its
        // producer counted it) or off after a crash: clamp it to what can be true.
        let pads = (self.ctl().paddings.load(Ordering::Relaxed) as i32).clamp(0, in_items as i32);
        in_items - (pads as u32) < self.lay.maxsize
    }

    /// Moves the head over padding records and frees their space. True if any moved.
    /// It reads the head and the head's descriptor, lines consumers write on every
    /// record, so spinning producers call it only while paddings are counted.
    fn skip_padding(&self) -> Result<bool, Corrupted> {
        let mut moved = false;
        let mut h = self.head_now();
        for _ in 0..MAX_RETRIES {
            if self.desc(h).claim.load(Ordering::Acquire) != word(h, PADDING, 0) {
                break;
            }
            self.pass_padding(h);
            moved = true;
            h = self.walk(h.wrapping_add(1), taken);
        }
        if moved {
            self.advance_free()?;
        }
        Ok(moved)
    }

    /// The descriptor of record `s` (at place `at`) held `cur`, not ready to claim: the
    /// place to look next. Someone claimed `s` in this lap: step past it by its extent
    /// (spinning while its owner has not stored it yet). The descriptor is on a later lap:
    /// `at` is stale, so start again from the cursors. An earlier lap's record not yet
    /// released: look again.
    pub(super) fn step_past(&self, at: u64, cur: u64) -> Result<u64, Corrupted> {
        let c = self.ctl();
        let (s, pos) = (seq_of(at), lo(at));
        let (cs, st) = (seq_of(cur), state_of(cur));
        if cs == s && st != FREE {
            let d = self.desc(s);
            // SYNC: pairs with the Release store of the extent in `try_claim` and the
            // CASes below and in `released_run`.
            let ext = d.extent.load(Ordering::Acquire);
            if seq_of(ext) == s {
                let end = lo(ext);
                if end.wrapping_sub(pos) > self.lay.cap_units {
                    return Err(corrupted("record extent is out of range"));
                }
                return Ok(pack(s.wrapping_add(1), end));
            }
            if st == PADDING {
                self.stamp_abandoned(s, ext, pos); // its writer died before the extent
            } else {
                spin_hint(); // the owner is between its claim and its extent store
            }
            return Ok(at);
        }
        if (cs.wrapping_sub(s) as i32) > 0 {
            // A later lap: the free cursor passed `s` since we read it.
            // SYNC: only where to start again; `try_claim` checks it (`check_start`).
            let now = later(
                c.tail.0.load(Ordering::Acquire),
                c.free.0.load(Ordering::SeqCst),
            );
            if (seq_of(now).wrapping_sub(s) as i32) <= 0 {
                return Err(corrupted("record descriptor is ahead of the tail"));
            }
            return Ok(now);
        }
        if s.wrapping_sub(cs) <= self.lay.n_desc {
            // An older lap's record that is not released: the room check saw `free` past
            // it, so only a read racing a later lap, or corruption, lands here. Spin; the
            // caller's bounded retries turn a lasting case into "full".
            spin_hint();
            return Ok(at);
        }
        Err(corrupted("record descriptor does not match the tail"))
    }

    /// Makes a claimed record visible to consumers with `len` (<= claimed) bytes.
    #[inline]
    pub(crate) fn publish(&self, claim: &WriteClaim, len: usize) {
        debug_assert!(len <= claim.len);
        let d = self.desc(claim.seq);
        if len != claim.len {
            let start = seq_of(d.data.load(Ordering::Relaxed));
            d.data.store(pack(start, len as u32), Ordering::Relaxed);
        }
        // SYNC: publishes the payload and `data` to consumers (release; pairs with the
        // AcqRel CAS in `try_take`). A handshake store (`fence::publish`): with a sleeping
        // consumer's `prepare_heavy`, either `notify_all_once` below sees the waiter or the
        // waiter's re-check sees `READY`.
        crate::fence::publish(&d.claim, word(claim.seq, READY, claim.owner));
        self.not_empty().notify_all_once();
    }

    /// Withdraws a claimed record: it becomes padding that consumers skip.
    pub(crate) fn cancel(&self, claim: &WriteClaim) {
        self.set_padding(claim.seq);
    }

    /// Turns our own claimed record `seq` into padding, then counts it. Counting after the
    /// store means a producer killed in between leaves the count one short, never one
    /// over: a count one over would make `len` report an empty ring while a record waits.
    fn set_padding(&self, seq: u32) {
        // SYNC: SeqCst for the wake handshake with sleeping consumers (`publish` uses a
        // handshake store; paddings are rare enough to keep the full barrier).
        self.desc(seq)
            .claim
            .store(word(seq, PADDING, 0), Ordering::SeqCst);
        self.ctl().paddings.fetch_add(1, Ordering::Relaxed);
        self.not_empty().notify_all_once();
    }
}
