//! Plain data in shared memory: the [`Plain`] marker, atomic copies in and out, and
//! [`SharedSlice`], a bounds-checked typed view.
//!
//! Another process may write the bytes at any moment, so a `&T` or `&[T]` into shared memory
//! would be a data race. Instead every access copies with relaxed atomic loads and stores,
//! in the widest aligned pieces (8, 4, 2 or 1 bytes): a value of up to 8 naturally aligned
//! bytes is read or written whole; a larger one may tear under a racing writer (take the
//! lock), but is never undefined behaviour.

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::error::ViewError;

/// Plain old data that may live in shared memory: `Copy`, no pointers, no padding, and
/// every bit pattern a valid value (bytemuck's `Pod`; iceoryx2's `ZeroCopySend`).
///
/// # Safety
/// Implement it only for `#[repr(C)]` (or `#[repr(transparent)]`) types whose fields are all
/// `Plain`, with no padding bytes, and for which any bytes another process writes form a
/// valid value (so not `bool`, `char`, enums, references or pointers).
///
/// ```
/// use ipc_core::sync::{Plain, Value};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
/// // SAFETY: repr(C), two f64 fields, no padding, any bits are a valid f64.
/// unsafe impl Plain for Point {}
///
/// let p = Value::new(Point { x: 1.0, y: 2.0 })?;
/// assert_eq!(p.get(), Point { x: 1.0, y: 2.0 });
/// # Ok::<(), ipc_core::OpenError>(())
/// ```
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number: no padding, every bit pattern valid.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array of Plain has no padding between elements and is valid for any bits.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// Copies `len` bytes from shared memory at `src` into private memory at `dst`.
///
/// # Safety
/// `src..src+len` is mapped shared memory (accessed by others only atomically or through
/// this module); `dst..dst+len` is private memory valid for writes.
pub(crate) unsafe fn load_bytes(src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len {
        let p = src.wrapping_add(i);
        let left = len - i;
        macro_rules! piece {
            ($a:ty, $w:expr) => {{
                // SAFETY: `p` is aligned for `$a` (checked by the caller of this macro) and
                // `p..p+$w` is inside the shared range; an atomic is valid for any bits.
                let v = unsafe { (*(p as *const $a)).load(Ordering::Relaxed) };
                // SAFETY: `dst + i .. + $w` is inside the private range; unaligned write.
                unsafe {
                    dst.add(i)
                        .cast::<[u8; $w]>()
                        .write_unaligned(v.to_ne_bytes())
                };
                i += $w;
            }};
        }
        if left >= 8 && p as usize % 8 == 0 {
            piece!(AtomicU64, 8);
        } else if left >= 4 && p as usize % 4 == 0 {
            piece!(AtomicU32, 4);
        } else if left >= 2 && p as usize % 2 == 0 {
            piece!(AtomicU16, 2);
        } else {
            piece!(AtomicU8, 1);
        }
    }
}

/// Copies `len` bytes from private memory at `src` into shared memory at `dst`.
///
/// # Safety
/// `dst..dst+len` is mapped shared memory; `src..src+len` is private, initialised memory.
pub(crate) unsafe fn store_bytes(dst: *mut u8, src: *const u8, len: usize) {
    let mut i = 0;
    while i < len {
        let p = dst.wrapping_add(i);
        let left = len - i;
        macro_rules! piece {
            ($a:ty, $int:ty, $w:expr) => {{
                // SAFETY: `src + i .. + $w` is inside the initialised private range.
                let b = unsafe { src.add(i).cast::<[u8; $w]>().read_unaligned() };
                // SAFETY: `p` is aligned for `$a` and `p..p+$w` is inside the shared range.
                unsafe { (*(p as *const $a)).store(<$int>::from_ne_bytes(b), Ordering::Relaxed) };
                i += $w;
            }};
        }
        if left >= 8 && p as usize % 8 == 0 {
            piece!(AtomicU64, u64, 8);
        } else if left >= 4 && p as usize % 4 == 0 {
            piece!(AtomicU32, u32, 4);
        } else if left >= 2 && p as usize % 2 == 0 {
            piece!(AtomicU16, u16, 2);
        } else {
            piece!(AtomicU8, u8, 1);
        }
    }
}

/// Reads a `T` from shared memory.
///
/// # Safety
/// `src` points at `size_of::<T>()` bytes of mapped shared memory.
pub(crate) unsafe fn load<T: Plain>(src: *const T) -> T {
    let mut out = MaybeUninit::<T>::uninit();
    // SAFETY: the caller vouches for `src`; `out` is private and `size_of::<T>()` long.
    unsafe {
        load_bytes(
            src.cast(),
            out.as_mut_ptr().cast(),
            std::mem::size_of::<T>(),
        )
    };
    // SAFETY: every byte was written, and any bytes are a valid `T: Plain`.
    unsafe { out.assume_init() }
}

/// Writes a `T` into shared memory.
///
/// # Safety
/// `dst` points at `size_of::<T>()` bytes of mapped shared memory.
pub(crate) unsafe fn store<T: Plain>(dst: *mut T, value: T) {
    // SAFETY: `value` is initialised with no padding (`Plain`); the caller vouches for `dst`.
    unsafe {
        store_bytes(
            dst.cast(),
            (&value as *const T).cast(),
            std::mem::size_of::<T>(),
        )
    };
}

/// A bounds-checked view of `len` values of `T` in shared memory. Reads and writes copy
/// (see the module docs); nothing hands out a reference into the shared bytes.
pub struct SharedSlice<'a, T: Plain> {
    ptr: NonNull<T>,
    len: usize,
    _mapping: PhantomData<&'a T>,
}

// SAFETY: all access goes through atomic copies of `T: Plain` (Send + Sync) in a mapping
// that outlives 'a.
unsafe impl<T: Plain> Send for SharedSlice<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Plain> Sync for SharedSlice<'_, T> {}

impl<T: Plain> fmt::Debug for SharedSlice<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSlice")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Plain> SharedSlice<'a, T> {
    /// # Safety
    /// `ptr` is aligned for `T` and `ptr..ptr+len` lies in shared memory mapped for 'a.
    pub(crate) unsafe fn new(ptr: NonNull<T>, len: usize) -> Self {
        SharedSlice {
            ptr,
            len,
            _mapping: PhantomData,
        }
    }

    /// Number of values.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::<u32>::zeroed(4)?;
    /// assert_eq!(a.as_shared_slice().len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no values.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::RawArray;
    ///
    /// assert!(RawArray::<u32>::zeroed(0)?.as_shared_slice().is_empty());
    /// assert!(!RawArray::<u32>::zeroed(1)?.as_shared_slice().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, i: usize, n: usize) -> Result<(), ViewError> {
        let size = std::mem::size_of::<T>();
        if i.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(ViewError::OutOfBounds {
                offset: i.saturating_mul(size),
                len: n.saturating_mul(size),
                size: self.len * size,
            });
        }
        Ok(())
    }

    /// The value at `i`, or `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::from_slice(&[10u16, 20])?;
    /// let view = a.as_shared_slice();
    /// assert_eq!(view.get(1), Some(20));
    /// assert_eq!(view.get(2), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        self.check(i, 1).ok()?;
        // SAFETY: `i < len`, so the element is inside the mapped range.
        Some(unsafe { load(self.ptr.as_ptr().add(i)) })
    }

    /// Writes `value` at `i`; [`ViewError::OutOfBounds`] past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{RawArray, ViewError};
    ///
    /// let a = RawArray::<u16>::zeroed(2)?;
    /// let view = a.as_shared_slice();
    /// view.set(1, 7)?;
    /// assert_eq!(a.to_vec(), [0, 7]);
    /// assert!(matches!(view.set(2, 7), Err(ViewError::OutOfBounds { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.check(i, 1)?;
        // SAFETY: `i < len`, so the element is inside the mapped range.
        unsafe { store(self.ptr.as_ptr().add(i), value) };
        Ok(())
    }

    /// Copies every value out.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::from_slice(&[1.5f64, 2.5])?;
    /// assert_eq!(a.as_shared_slice().to_vec(), [1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        let mut v = Vec::<T>::with_capacity(self.len);
        let bytes = self.len * std::mem::size_of::<T>();
        // SAFETY: the source range is mapped; the vector has room for `len` values.
        unsafe { load_bytes(self.ptr.as_ptr().cast(), v.as_mut_ptr().cast(), bytes) };
        // SAFETY: all `len` values were written, and any bytes are valid for `T: Plain`.
        unsafe { v.set_len(self.len) };
        v
    }

    /// Copies `src` in, starting at index `at`; [`ViewError::OutOfBounds`] if it does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{RawArray, ViewError};
    ///
    /// let a = RawArray::<u8>::zeroed(4)?;
    /// let view = a.as_shared_slice();
    /// view.write_from(1, &[7, 8, 9])?;
    /// assert_eq!(a.to_vec(), [0, 7, 8, 9]);
    /// assert!(matches!(view.write_from(2, &[1, 2, 3]), Err(ViewError::OutOfBounds { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_from(&self, at: usize, src: &[T]) -> Result<(), ViewError> {
        self.check(at, src.len())?;
        let bytes = std::mem::size_of_val(src);
        // SAFETY: `at + src.len() <= len`, checked; `src` is private and initialised.
        unsafe { store_bytes(self.ptr.as_ptr().add(at).cast(), src.as_ptr().cast(), bytes) };
        Ok(())
    }
}
