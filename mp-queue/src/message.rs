//! How typed values become records: rkyv serialization straight into the ring, and
//! validated access to records in place.

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

use ipc_core::ring::{Producer, INLINE_MAX};
use ipc_core::PushError;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::rancor::Strategy;
use rkyv::ser::allocator::{Arena, ArenaHandle};
use rkyv::ser::sharing::Share;
use rkyv::ser::Allocator;
use rkyv::ser::{Positional, Serializer, Writer};
use rkyv::util::AlignedVec;
use rkyv::validation::archive::ArchiveValidator;
use rkyv::validation::shared::SharedValidator;
use rkyv::validation::Validator;
use rkyv::{Archive, Deserialize, Serialize};

use crate::endpoint::Wait;

/// A type that can travel through a queue or a pipe: rkyv can serialize it, validate its
/// archived form, and deserialize it back.
///
/// Implemented for every type that derives rkyv's `Archive`, `Serialize` and `Deserialize`
/// (with the default `bytecheck` validation), and for the standard types rkyv supports:
/// integers, `String`, `Vec<T>`, `Option<T>`, tuples, arrays, ...
///
/// `usize` and `isize` keep all 64 bits: mp-queue turns on rkyv's `pointer_width_64`
/// feature (rkyv's default archives them as 32 bits and cuts larger values silently). So
/// every crate in a build shares that archive format, and `get_ref` on a `Queue<usize>`
/// gives an `ArchivedUsize` (a little-endian `u64`; `to_native()` reads it).
///
/// Plain types (fixed-size integers, floats, arrays of them, padding-free `#[repr(C)]`
/// structs of them: see the crate docs, "Speed and memory") are put as their own bytes,
/// without running the serializer; every other type is serialized straight into the
/// queue's shared memory.
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
    > + for<'a> Serialize<HighSerializer<SlotWriter, Scratch<'a>, rancor::Error>>
{
}

impl<T> Message for T where
    T: Archive<
            Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                          + Deserialize<T, HighDeserializer<rancor::Error>>,
        > + for<'a> Serialize<HighSerializer<SlotWriter, Scratch<'a>, rancor::Error>>
{
}

/// A value rkyv can serialize into a queue record: the put half of [`Message`]. Borrowing
/// wrappers (e.g. a slice archived as a `Vec`) can be `Encode` without being `Message`.
pub trait Encode:
    for<'a> Serialize<HighSerializer<SlotWriter, Scratch<'a>, rancor::Error>>
{
}

impl<T> Encode for T where
    T: for<'a> Serialize<HighSerializer<SlotWriter, Scratch<'a>, rancor::Error>>
{
}

/// The rkyv writer that `put` serializes with: it writes into the space reserved in the
/// ring and, if the value turns out larger than that space, moves what it wrote into a
/// reusable per-thread buffer and goes on there. You never build one yourself; it appears
/// only in [`Message`]'s bounds.
pub struct SlotWriter {
    slot: *mut u8,
    cap: usize,
    pos: usize,
    /// Taken from the thread's cache only when the value outgrows the slot.
    spill: Option<AlignedVec<16>>,
}

impl SlotWriter {
    fn new(slot: *mut u8, cap: usize) -> SlotWriter {
        SlotWriter {
            slot,
            cap,
            pos: 0,
            spill: None,
        }
    }
}

impl Positional for SlotWriter {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<E> Writer<E> for SlotWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        if bytes.is_empty() {
            return Ok(()); // nothing to copy (and `slot` may be null when `cap` is 0)
        }
        if self.spill.is_none() && self.pos + bytes.len() <= self.cap {
            // SAFETY: here `0 < pos + len <= cap`, so `cap > 0` and `slot` points at the
            // `cap` reserved bytes of a write slot; `bytes` is a distinct Rust slice.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.slot.add(self.pos), bytes.len())
            };
        } else {
            let (slot, pos) = (self.slot, self.pos);
            let spill = self.spill.get_or_insert_with(|| {
                let mut v = SPILL.take().unwrap_or_default();
                v.clear();
                if pos > 0 {
                    // SAFETY: the first `pos <= cap` bytes of `slot` were written above
                    // (and `slot` is non-null whenever `cap > 0`).
                    v.extend_from_slice(unsafe { std::slice::from_raw_parts(slot, pos) });
                }
                v
            });
            spill.extend_from_slice(bytes);
        }
        self.pos += bytes.len();
        Ok(())
    }
}

/// The largest spill buffer a thread keeps between puts.
const SPILL_KEEP: usize = 1 << 20;

thread_local! {
    /// Where values larger than their reservation are serialized; the buffer is handed
    /// back after each use, so steady-state puts never allocate.
    static SPILL: Cell<Option<AlignedVec<16>>> = const { Cell::new(None) };
}

/// Why [`put`] failed, before the caller hands the value back.
pub(crate) enum PutFail {
    Push(PushError),
    Serialize(rancor::Error),
}

/// Puts `header` then `value` as one record. A plain value (see [`plain_bytes`]) with no
/// header is pushed as its own bytes. Any other is serialized: first straight into a reservation of
/// `guess` bytes, else (the value is larger) through the spill buffer with one extra copy.
/// A guess of at most `INLINE_MAX` bytes is served from the stack and copied in: such a
/// record lives in its descriptor, and holding that line through serialization while the
/// consumer polls it made `Queue<u64>` 15-30% slower across processes.
/// `header.len()` must be a multiple of 16 so the archive stays aligned. Returns the
/// record's length, a good next guess.
pub(crate) fn put<T: Encode>(
    tx: &Producer,
    header: &[u8],
    value: &T,
    guess: usize,
    wait: Wait,
) -> Result<usize, PutFail> {
    if let Some(bytes) = plain_bytes(value).filter(|_| header.is_empty()) {
        // The value's own bytes are its archive: no serializer at all (a `u64` put went
        // from about 43 to 29 ns in one thread).
        return push(tx, bytes, wait)
            .map(|()| bytes.len())
            .map_err(PutFail::Push);
    }
    let max = tx.ring().capacity();
    let guess = guess.max(16).min(max);
    if guess <= INLINE_MAX {
        // A small record lives in its descriptor, the line the consumer polls: build it on
        // the stack and copy it in at once, so the claim is held for a copy, not for
        // serialization.
        let mut buf = Small([0; INLINE_MAX]);
        let w = serialize(
            header,
            value,
            SlotWriter::new(buf.0.as_mut_ptr(), INLINE_MAX),
        )
        .map_err(PutFail::Serialize)?;
        if w.spill.is_none() {
            return push(tx, &buf.0[..w.pos], wait)
                .map(|()| w.pos)
                .map_err(PutFail::Push);
        }
        return push_spilled(tx, w, wait);
    }
    // The guess is the last value's size, not this one's: wait neither for its bytes nor
    // for a place before the value is measured, since a value too large for the queue is
    // refused at once, full queue or not. With no room now, the value is measured in the
    // spill buffer and pushed at its exact size, which waits (or fails) for the room it
    // really needs; a producer that would wait anyway pays that extra copy.
    let w = match tx.reserve_now(guess) {
        Ok(Some(mut slot)) => {
            let w = serialize(
                header,
                value,
                SlotWriter::new(slot.as_mut_ptr(), slot.len()),
            )
            .map_err(PutFail::Serialize)?;
            if w.spill.is_none() {
                slot.commit_len(w.pos);
                return Ok(w.pos);
            }
            drop(slot); // cancel the reservation; push the exact size below
            w
        }
        Ok(None) => serialize(header, value, SlotWriter::new(std::ptr::null_mut(), 0))
            .map_err(PutFail::Serialize)?,
        Err(e) => return Err(PutFail::Push(e)),
    };
    push_spilled(tx, w, wait)
}

/// `value`'s bytes, when they are its archived form. rkyv marks such types with
/// `Archive::COPY_OPTIMIZATION`: fixed-size integers, floats, `bool`, `char`, `NonZero`s,
/// arrays of them, and non-generic derived structs of them whose fields lie where the
/// archived (`repr(C)`) struct has them, with no padding; `usize`/`isize` too, archived as
/// 64 bits (the workspace's rkyv features). Not enums, `Option`s or tuples. The check is
/// on constants, so it costs nothing for other types.
#[inline(always)]
fn plain_bytes<T: Encode>(value: &T) -> Option<&[u8]> {
    let size = std::mem::size_of::<T>();
    let plain = is_plain::<T>();
    // SAFETY: `CopyOptimization::enable` requires that the type has no uninitialized
    // bytes (padding), so all `size` bytes of `value` are initialized. That they form
    // its archive is what the flag means ("the bytes of this type [may] be copied
    // directly to a writer instead of calling `serialize`", rkyv's `Archive` docs); rkyv
    // relies on it the same way when it serializes a `[T]`. With the sizes equal, a root
    // archive starts at 0 and `access` finds it there. Records start 16-byte aligned,
    // which covers the archive's alignment. A type that sets the flag wrongly gets its
    // records refused or misread by `get`'s validation, never undefined behaviour here.
    plain.then(|| unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size) })
}

/// Whether `T`'s archived form is its own bytes (see [`plain_bytes`]): constants only.
#[inline(always)]
fn is_plain<T: Archive>() -> bool {
    let size = std::mem::size_of::<T>();
    T::COPY_OPTIMIZATION.is_enabled()
        && size == std::mem::size_of::<T::Archived>()
        && std::mem::align_of::<T::Archived>() <= 16
        && size > 0
}

/// Copies `bytes` in as one record, waiting as `wait` says.
pub(crate) fn push(tx: &Producer, bytes: &[u8], wait: Wait) -> Result<(), PushError> {
    match wait {
        Wait::No => tx.try_push(bytes),
        Wait::Until(deadline) => tx.push_deadline(bytes, deadline),
    }
}

/// 16-byte aligned stack room for a record small enough to live in its descriptor.
#[repr(C, align(16))]
struct Small([u8; INLINE_MAX]);

/// Pushes a value [`serialize`] wrote (into its spill buffer, unless it was empty) as one
/// record of its exact size, and hands the buffer back to the thread's cache.
fn push_spilled(tx: &Producer, w: SlotWriter, wait: Wait) -> Result<usize, PutFail> {
    let len = w.pos;
    // No spill buffer: an empty value, nothing was written.
    let bytes: &[u8] = w.spill.as_deref().map_or(&[], |s| &s[..len]);
    let pushed = push(tx, bytes, wait);
    if let Some(spill) = w.spill {
        // Back to the cache for the next large value, but not a huge one's memory for
        // good: a buffer over SPILL_KEEP is freed (a value that size is then usually put
        // straight into its reservation, which fits it from the next put on).
        if spill.capacity() <= SPILL_KEEP {
            SPILL.set(Some(spill));
        }
    }
    pushed.map(|()| len).map_err(PutFail::Push)
}

#[inline]
fn serialize<T: Encode>(
    header: &[u8],
    value: &T,
    mut w: SlotWriter,
) -> Result<SlotWriter, rancor::Error> {
    if !header.is_empty() {
        Writer::<rancor::Error>::write(&mut w, header)?;
    }
    // What rkyv's `to_bytes_in` does, with two savings that took `Queue<u64>` put+get in
    // one thread from about 125 to 105 ns: `Scratch` takes the thread's arena only when
    // the value asks for scratch space (a `u64` or a `String` never does), where rkyv
    // takes and shrinks its arena twice per call; and the serializer is built here, inlined,
    // where `to_bytes_in_with_alloc` (not inlined) moved the writer in and out by value,
    // with store-forwarding stalls on every put.
    let mut arena = None;
    let mut ser = Serializer::new(w, Scratch::new(&mut arena), Share::new());
    let r = rkyv::api::serialize_using::<_, rancor::Error>(value, &mut ser);
    let w = ser.into_writer();
    if let Some(arena) = arena {
        ARENA.set(Some(arena));
    }
    r.map(|_| w)
}

thread_local! {
    /// Scratch space for serializers (e.g. a `Vec<String>`'s resolvers go through it),
    /// kept between puts.
    static ARENA: Cell<Option<Arena>> = const { Cell::new(None) };
}

/// The scratch allocator `put` serializes with: the thread's rkyv arena, taken on the
/// first allocation only. You never build one yourself; it appears only in [`Message`]'s
/// bounds.
pub struct Scratch<'a> {
    /// Where the arena goes once taken (so that `serialize` can hand it back); `None`
    /// after that, when `handle` allocates in it.
    slot: Option<&'a mut Option<Arena>>,
    handle: Option<ArenaHandle<'a>>,
}

impl<'a> Scratch<'a> {
    fn new(slot: &'a mut Option<Arena>) -> Scratch<'a> {
        Scratch {
            slot: Some(slot),
            handle: None,
        }
    }

    fn handle(&mut self) -> &mut ArenaHandle<'a> {
        if self.handle.is_none() {
            let slot = self
                .slot
                .take()
                .expect("a scratch without an arena has a slot");
            let arena = slot.insert(ARENA.take().unwrap_or_default());
            self.handle = Some(arena.acquire());
        }
        self.handle.as_mut().expect("set above")
    }
}

// SAFETY: every allocation comes from the arena handle, which upholds the contract.
unsafe impl<E> Allocator<E> for Scratch<'_> {
    unsafe fn push_alloc(&mut self, layout: Layout) -> Result<NonNull<[u8]>, E> {
        // SAFETY: the caller's contract is the handle's.
        unsafe { self.handle().push_alloc(layout) }
    }

    unsafe fn pop_alloc(&mut self, ptr: NonNull<u8>, layout: Layout) -> Result<(), E> {
        // SAFETY: `ptr` came from `push_alloc`, so the handle exists and allocated it.
        unsafe { self.handle().pop_alloc(ptr, layout) }
    }
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
#[inline]
pub fn access<T: Message>(bytes: &[u8]) -> Result<&T::Archived, rancor::Error> {
    let ptr = bytes.as_ptr().cast::<T::Archived>();
    if is_plain::<T>() && bytes.len() == std::mem::size_of::<T::Archived>() && ptr.is_aligned() {
        // A plain type's archive holds no offsets (its bytes are its archive), so what
        // `rkyv::access` adds around `check_bytes`, placing the root and claiming its
        // range, reduces to the length and alignment checked above. Checked here without
        // that out-of-line step: `get_ref` kept its guard across that call on the stack
        // and moved it out with wider loads than the stores, a store-forwarding stall.
        let mut validator = Validator::new(ArchiveValidator::new(bytes), SharedValidator::new());
        // SAFETY: `ptr` is aligned for `T::Archived` and `bytes` holds exactly its size.
        unsafe { T::Archived::check_bytes(ptr, Strategy::wrap(&mut validator))? };
        // SAFETY: validated just above; the borrow of `bytes` bounds the lifetime.
        return Ok(unsafe { &*ptr });
    }
    rkyv::access::<T::Archived, rancor::Error>(bytes)
}

/// Validates and deserializes.
pub(crate) fn decode<T: Message>(bytes: &[u8]) -> Result<T, rancor::Error> {
    let archived = access::<T>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(archived)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
    #[repr(C)]
    struct Point {
        x: f64,
        y: f64,
        id: u32,
        tag: [u8; 4],
    }

    #[derive(Archive, Serialize, Deserialize)]
    struct Padded {
        a: u8,
        b: u64,
    }

    /// The bytes `put` would write by serializing, as rkyv's own `to_bytes` makes them.
    fn archived<
        T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
    >(
        v: &T,
    ) -> Vec<u8> {
        rkyv::to_bytes::<rancor::Error>(v).unwrap().to_vec()
    }

    #[test]
    fn plain_bytes_are_exactly_the_archive() {
        fn same<
            T: Encode + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
        >(
            v: T,
        ) {
            let plain = plain_bytes(&v).expect("a plain type");
            assert_eq!(plain, &archived(&v)[..], "{}", std::any::type_name::<T>());
        }
        same(0x0123_4567_89ab_cdefu64);
        same(-5i16);
        same(f64::NAN);
        same(true);
        same('é');
        same([1u32, 2, 3, 4]);
        same(std::num::NonZeroU32::new(9).unwrap());
        same(5_000_000_000usize); // 64-bit archived sizes (the workspace's rkyv features)
        same(-5_000_000_000isize);
        same(Point {
            x: 1.5,
            y: -2.0,
            id: 7,
            tag: *b"abcd",
        });
    }

    #[test]
    fn types_with_padding_or_pointers_are_serialized() {
        assert!(plain_bytes(&String::from("x")).is_none());
        assert!(plain_bytes(&vec![1u64]).is_none());
        assert!(plain_bytes(&Padded { a: 1, b: 2 }).is_none());
        assert!(plain_bytes(&(1u8, 2u64)).is_none());
        assert!(plain_bytes(&Some(1u64)).is_none());
        assert!(
            plain_bytes(&()).is_none(),
            "no bytes: the serializer handles it"
        );
    }

    /// Marked plain, with a `serialize` that fails: only the plain path can put it.
    struct NoSerializer(u64);

    impl Archive for NoSerializer {
        // SAFETY: a `u64` has no padding, and its bytes are its archive (`u64_le` here).
        const COPY_OPTIMIZATION: rkyv::traits::CopyOptimization<Self> =
            unsafe { rkyv::traits::CopyOptimization::enable() };
        type Archived = rkyv::rend::u64_le;
        type Resolver = ();
        fn resolve(&self, _: (), out: rkyv::Place<Self::Archived>) {
            out.write(rkyv::rend::u64_le::from_native(self.0));
        }
    }

    impl<S: rancor::Fallible + ?Sized> Serialize<S> for NoSerializer
    where
        S::Error: rancor::Source,
    {
        fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
            Err(rancor::Source::new(std::fmt::Error))
        }
    }

    #[test]
    fn put_pushes_a_plain_value_without_serializing_it() {
        let ring = ipc_core::ring::Ring::builder().create().unwrap();
        let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let len = put(&tx, &[], &NoSerializer(0xfeed), 0, Wait::No)
            .map_err(|_| "put serialized the plain value")
            .unwrap();
        assert_eq!(len, 8);
        assert_eq!(*rx.try_pop().unwrap(), 0xfeed_u64.to_le_bytes());
        // With a header the value goes through the serializer, which refuses it here.
        assert!(matches!(
            put(&tx, &[0; 16], &NoSerializer(1), 0, Wait::No),
            Err(PutFail::Serialize(_))
        ));
    }

    /// Plain types skip `rkyv::access`'s root placement but not `check_bytes`: bit
    /// patterns a type cannot hold are still refused, in and beside plain structs.
    #[test]
    fn access_checks_the_bytes_of_plain_types() {
        fn aligned(bytes: &[u8]) -> AlignedVec<16> {
            let mut v = AlignedVec::<16>::new();
            v.extend_from_slice(bytes);
            v
        }
        assert!(is_plain::<bool>() && is_plain::<char>() && is_plain::<[bool; 4]>());
        assert!(is_plain::<std::num::NonZeroU32>() && is_plain::<Point>());
        assert!(access::<bool>(&aligned(&[1])).unwrap());
        assert!(access::<bool>(&aligned(&[2])).is_err());
        assert!(access::<[bool; 4]>(&aligned(&[1, 0, 1, 7])).is_err());
        assert!(access::<char>(&aligned(&0xD800u32.to_le_bytes())).is_err());
        assert!(access::<std::num::NonZeroU32>(&aligned(&[0; 4])).is_err());
        assert_eq!(access::<u64>(&aligned(&7u64.to_le_bytes())).unwrap(), &7);
        // A length other than the type's goes the general way, and is refused there.
        assert!(access::<u64>(&aligned(&[0; 4])).is_err());
        let p = Point {
            x: 1.0,
            y: 2.0,
            id: 3,
            tag: *b"abcd",
        };
        let bytes = aligned(plain_bytes(&p).unwrap());
        assert_eq!(access::<Point>(&bytes).unwrap().id, 3);
    }
}
