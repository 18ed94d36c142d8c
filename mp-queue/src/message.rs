//! How typed values become records: rkyv serialization straight into the ring, and
//! validated access to records in place.

use std::cell::RefCell;
use std::time::Instant;

use ipc_core::ring::Producer;
use ipc_core::PushError;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// A type that can travel through a queue or a pipe: rkyv can serialize it, validate its
/// archived form, and deserialize it back.
///
/// Implemented for every type that derives rkyv's `Archive`, `Serialize` and `Deserialize`
/// (with the default `bytecheck` validation), and for the standard types rkyv supports:
/// integers, `String`, `Vec<T>`, `Option<T>`, tuples, arrays, ...
///
/// # Examples
///
/// ```
/// use rkyv::{Archive, Deserialize, Serialize};
///
/// #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
/// struct Job {
///     id: u64,
///     path: String,
/// }
///
/// fn needs_message<T: mp_queue::Message>() {}
/// needs_message::<Job>();
/// needs_message::<(u32, Vec<String>)>();
/// ```
pub trait Message:
    Sized
    + Archive<
        Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>,
    > + for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T> Message for T where
    T: Archive<
            Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                          + Deserialize<T, HighDeserializer<rancor::Error>>,
        > + for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

/// A value rkyv can serialize into a queue record: the put half of [`Message`]. Borrowing
/// wrappers (e.g. a slice archived as a `Vec`) can be `Encode` without being `Message`.
pub trait Encode:
    for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T> Encode for T where
    T: for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

/// The rkyv writer that `put` serializes with: it writes into the space reserved in the
/// ring and, if the value turns out larger than that space, moves what it wrote into a
/// reusable per-thread buffer and goes on there. You never build one yourself; it appears
/// only in [`Message`]'s bounds.
pub struct SlotWriter<'a> {
    slot: *mut u8,
    cap: usize,
    pos: usize,
    spill: &'a mut AlignedVec<16>,
    spilled: bool,
}

impl Positional for SlotWriter<'_> {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<E> Writer<E> for SlotWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        if bytes.is_empty() {
            return Ok(()); // nothing to copy (and `slot` may be null when `cap` is 0)
        }
        if !self.spilled && self.pos + bytes.len() <= self.cap {
            // SAFETY: here `0 < pos + len <= cap`, so `cap > 0` and `slot` points at the
            // `cap` reserved bytes of a write slot; `bytes` is a distinct Rust slice.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.slot.add(self.pos), bytes.len())
            };
        } else {
            if !self.spilled {
                self.spill.clear();
                if self.pos > 0 {
                    // SAFETY: the first `pos <= cap` bytes of `slot` were written above
                    // (and `slot` is non-null whenever `cap > 0`).
                    let written = unsafe { std::slice::from_raw_parts(self.slot, self.pos) };
                    self.spill.extend_from_slice(written);
                }
                self.spilled = true;
            }
            self.spill.extend_from_slice(bytes);
        }
        self.pos += bytes.len();
        Ok(())
    }
}

thread_local! {
    /// Where values larger than their reservation are serialized; reused, so steady-state
    /// puts never allocate.
    static SPILL: RefCell<AlignedVec<16>> = RefCell::new(AlignedVec::new());
}

/// Why [`put`] failed, before the caller hands the value back.
pub(crate) enum PutFail {
    Push(PushError),
    Serialize(rancor::Error),
}

/// Serializes `header` then `value` into one record: first straight into a reservation of
/// `guess` bytes, else (the value is larger) through the spill buffer with one extra copy.
/// `header.len()` must be a multiple of 16 so the archive stays aligned. Returns the
/// record's length, a good next guess.
pub(crate) fn put<T: Encode>(
    tx: &Producer,
    header: &[u8],
    value: &T,
    guess: usize,
    deadline: Option<Instant>,
    non_blocking: bool,
) -> Result<usize, PutFail> {
    let max = tx.ring().capacity();
    let guess = guess.max(16).min(max);
    let slot = if non_blocking {
        tx.try_reserve(guess)
    } else {
        tx.reserve_deadline(guess, deadline)
    };
    SPILL.with_borrow_mut(|spill| {
        let len = match slot {
            Ok(mut slot) => {
                let w = SlotWriter {
                    slot: slot.as_mut_ptr(),
                    cap: slot.len(),
                    pos: 0,
                    spill,
                    spilled: false,
                };
                let w = serialize(header, value, w).map_err(PutFail::Serialize)?;
                let len = w.pos;
                if !w.spilled {
                    slot.commit_len(len);
                    return Ok(len);
                }
                drop(slot); // cancel the reservation; push the exact size below
                len
            }
            // A guess that does not fit now may still leave room for the real value.
            Err(PushError::Full) if non_blocking => {
                let w = SlotWriter {
                    slot: std::ptr::null_mut(),
                    cap: 0,
                    pos: 0,
                    spill,
                    spilled: false,
                };
                let w = serialize(header, value, w).map_err(PutFail::Serialize)?;
                if !w.spilled {
                    w.spill.clear(); // an empty value: nothing was written
                }
                w.pos
            }
            Err(e) => return Err(PutFail::Push(e)),
        };
        let bytes = &spill[..len];
        let pushed = if non_blocking {
            tx.try_push(bytes)
        } else {
            tx.push_deadline(bytes, deadline)
        };
        pushed.map(|()| len).map_err(PutFail::Push)
    })
}

fn serialize<'w, T: Encode>(
    header: &[u8],
    value: &T,
    mut w: SlotWriter<'w>,
) -> Result<SlotWriter<'w>, rancor::Error> {
    if !header.is_empty() {
        Writer::<rancor::Error>::write(&mut w, header)?;
    }
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, w)
}

/// Validates `bytes` as an archived `T` (rkyv's checked `access`: every offset and length
/// is bounds-checked), e.g. the tail of a [`ByteQueue::put_framed`](crate::ByteQueue::put_framed)
/// record. `bytes` must start 16-byte aligned, as every record in a queue does.
///
/// # Examples
///
/// ```
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&vec![1u32, 2])?;
/// assert_eq!(mp_queue::access::<Vec<u32>>(&bytes)?.len(), 2);
/// assert!(mp_queue::access::<Vec<u32>>(&[0xff; 8]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn access<T: Message>(bytes: &[u8]) -> Result<&T::Archived, rancor::Error> {
    rkyv::access::<T::Archived, rancor::Error>(bytes)
}

/// Validates and deserializes.
pub(crate) fn decode<T: Message>(bytes: &[u8]) -> Result<T, rancor::Error> {
    let archived = access::<T>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(archived)
}
