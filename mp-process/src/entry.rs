//! Entry functions and their arguments, made to cross `exec`.
//!
//! A spawned or forkserver child is a fresh image of the same binary, so a closure cannot
//! reach it, but a plain `fn` can: the parent sends the function's address as an offset
//! from a known function of this crate ([`anchor`]), and the child adds its own anchor's
//! address back (ASLR moves the whole image at once). The function is called through a
//! monomorphised trampoline `call::<A>` whose offset travels the same way and which
//! deserialises the rkyv bytes of `A` (validated) before calling the entry.
//!
//! A second offset between two known functions is checked in the child, so a payload
//! made by a different binary is refused instead of jumping to a wrong address.
//!
//! Trust: the payload reaches the child only through a descriptor that the parent hands
//! to that child (inherited across exec, or sent over the forkserver's private socket).
//! Code that can forge it can already run code as this user.

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::ArgsError;

/// Arguments of an entry function: any type that rkyv can serialize, validate and
/// deserialize (derive `rkyv::Archive`, `rkyv::Serialize`, `rkyv::Deserialize`; tuples,
/// integers, `String`, `Vec` and `()` already are). Implemented automatically.
///
/// A queue, lock or segment travels as its handle (e.g. an
/// [`ipc_core::segment::SegmentHandle`] as a string) plus
/// [`Builder::pass_fd`](crate::Builder::pass_fd) for its descriptor.
pub trait Args: Sized {
    /// Serializes `self` (rkyv).
    #[doc(hidden)]
    fn to_bytes(&self) -> Result<Vec<u8>, ArgsError>;
    /// Validates and deserializes (rkyv).
    #[doc(hidden)]
    fn from_bytes(bytes: &[u8]) -> Result<Self, ArgsError>;
}

impl<T> Args for T
where
    T: Archive + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    fn to_bytes(&self) -> Result<Vec<u8>, ArgsError> {
        rkyv::to_bytes::<rancor::Error>(self)
            .map(|v| v.to_vec())
            .map_err(|e| ArgsError::new(format!("cannot serialize the arguments: {e}")))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, ArgsError> {
        // rkyv checks alignment against absolute addresses: copy into an aligned buffer.
        let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        rkyv::from_bytes::<T, rancor::Error>(&aligned)
            .map_err(|e| ArgsError::new(format!("arguments failed validation: {e}")))
    }
}

/// What every spawned or forkserver child receives from its parent.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default)]
pub(crate) struct Payload {
    /// `KIND_ENTRY` or `KIND_FORKSERVER`.
    pub(crate) kind: u8,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    pub(crate) identity: Vec<u32>,
    pub(crate) parent_pid: u32,
    pub(crate) parent_start_time: u64,
    pub(crate) parent_name: String,
    /// [`binary_check`] of the parent.
    pub(crate) check: u64,
    /// Offsets from [`anchor`] of the trampoline and of the entry function.
    pub(crate) trampoline: u64,
    pub(crate) entry: u64,
    /// rkyv bytes of the entry's arguments.
    pub(crate) args: Vec<u8>,
    /// Descriptors handed over, by their number in the child.
    pub(crate) fds: Vec<i32>,
    /// The forkserver's socket (`KIND_FORKSERVER`).
    pub(crate) sock: i32,
}

pub(crate) const KIND_ENTRY: u8 = 0;
pub(crate) const KIND_FORKSERVER: u8 = 1;

/// The type of every trampoline: entry address, argument bytes.
pub(crate) type Trampoline = fn(usize, &[u8]) -> Result<(), ArgsError>;

/// The known point every code offset is measured from.
#[inline(never)]
pub(crate) fn anchor() -> u32 {
    std::hint::black_box(0x5eed_0001)
}

#[inline(never)]
fn second_anchor() -> u32 {
    std::hint::black_box(0x5eed_0002)
}

/// Distance between two functions of this crate: equal in parent and child only when
/// both run the same binary.
pub(crate) fn binary_check() -> u64 {
    offset_of(second_anchor as fn() -> u32 as usize)
}

/// `addr` as an offset from `anchor`: the same in every image of this binary, wherever
/// ASLR put it. Re-exported (hidden) as `mp_process::code::offset_of` for mp-pool.
pub fn offset_of(addr: usize) -> u64 {
    (addr as u64).wrapping_sub(anchor as fn() -> u32 as usize as u64)
}

/// The address at `offset` from this image's `anchor`. Re-exported (hidden) as
/// `mp_process::code::address_of` for mp-pool.
pub fn address_of(offset: u64) -> usize {
    (anchor as fn() -> u32 as usize as u64).wrapping_add(offset) as usize
}

/// Deserializes `A` from `args` and calls the entry at address `entry`.
fn call<A: Args>(entry: usize, args: &[u8]) -> Result<(), ArgsError> {
    let args = A::from_bytes(args)?;
    // SAFETY: `entry` is the address of an `fn(A)` of this binary: the parent took it
    // from a real `fn(A)` value paired with this very trampoline `call::<A>`, and the
    // child checked that it runs the same binary (`binary_check`) before calling here.
    let f = unsafe { std::mem::transmute::<usize, fn(A)>(entry) };
    f(args);
    Ok(())
}

/// The entry call an `fn(A)` and its arguments become: offsets plus bytes.
#[derive(Debug, Clone)]
pub(crate) struct EntryCall {
    pub(crate) trampoline: u64,
    pub(crate) entry: u64,
    pub(crate) args: Vec<u8>,
}

impl EntryCall {
    pub(crate) fn new<A: Args>(f: fn(A), args: &A) -> Result<EntryCall, ArgsError> {
        let tramp: Trampoline = call::<A>;
        Ok(EntryCall {
            trampoline: offset_of(tramp as usize),
            entry: offset_of(f as usize),
            args: args.to_bytes()?,
        })
    }

    /// Runs the call in this image (a child of the same binary).
    pub(crate) fn run(&self, check: u64) -> Result<(), ArgsError> {
        if check != binary_check() {
            return Err(ArgsError::new(
                "the child runs a different binary than its parent (rebuilt while running?)"
                    .to_owned(),
            ));
        }
        let addr = address_of(self.trampoline);
        // SAFETY: `addr` is the address of a `call::<A>` of this binary, computed as in
        // `EntryCall::new` and checked to come from the same binary just above.
        let tramp = unsafe { std::mem::transmute::<usize, Trampoline>(addr) };
        tramp(address_of(self.entry), &self.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: (u32, String)) {
        assert_eq!(x.0 * 2, 84);
        assert_eq!(x.1, "hi");
    }

    #[test]
    fn entry_call_round_trips_in_the_same_image() {
        let call = EntryCall::new(double, &(42u32, "hi".to_owned())).unwrap();
        call.run(binary_check()).unwrap();
        assert!(call.run(binary_check() ^ 1).is_err());
    }

    fn accept(_: (bool, String)) {}

    #[test]
    fn corrupted_arguments_give_an_error_never_a_crash() {
        let good = EntryCall::new(accept, &(true, "x".repeat(40))).unwrap();
        good.run(binary_check()).unwrap();
        let mut errors = 0;
        for i in 0..good.args.len() {
            let mut bad = good.clone();
            bad.args[i] = 2; // 2 is never a valid bool; elsewhere it moves offsets
            errors += bad.run(binary_check()).is_err() as usize;
        }
        assert!(errors > 0, "no corruption was detected");
    }
}
