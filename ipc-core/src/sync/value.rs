//! `Value<T>`, `Array<T>` (with a lock) and `RawValue<T>`, `RawArray<T>` (without): plain
//! data in shared memory, as Python's `multiprocessing.Value` / `Array` / `RawValue` /
//! `RawArray`.
//!
//! Layout: a 64-byte header (the lock, element size, alignment and count, checked at open),
//! then the elements.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use super::error::{LockError, ViewError};
use super::lock::RawLock;
use super::plain::{Plain, SharedSlice};
use super::{kind, new_segment, Lock, LockGuard, Mapped, SharedState};
use crate::error::OpenError;
use crate::primitive::{AtomicU32, AtomicU64, Ordering};
use crate::segment::{Kind, Segment, SegmentHandle};

const DATA_OFFSET: usize = 64;

#[repr(C)]
struct Header {
    lock: RawLock,
    elem_size: AtomicU32,
    elem_align: AtomicU32,
    len: AtomicU64,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for Header {}

// The elements start at a fixed offset after the header.
const _: () = assert!(std::mem::size_of::<Header>() <= DATA_OFFSET);

/// The elements of a value or array, and the segment that holds them.
struct Cells<T: Plain> {
    header: Mapped<Header>,
    data: NonNull<T>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> Clone for Cells<T> {
    fn clone(&self) -> Self {
        Cells {
            header: self.header.clone(),
            data: self.data,
            len: self.len,
            _t: PhantomData,
        }
    }
}

// SAFETY: the data is only reached through atomic copies of `T: Plain`; the mapping is
// kept alive by `header`'s segment from any thread.
unsafe impl<T: Plain> Send for Cells<T> {}
// SAFETY: as above.
unsafe impl<T: Plain> Sync for Cells<T> {}

impl<T: Plain> Cells<T> {
    fn create(kind: Kind, len: usize, prefix: Option<&str>, init: &[T]) -> Result<Self, OpenError> {
        if std::mem::align_of::<T>() > DATA_OFFSET {
            return Err(OpenError::InvalidConfig("element alignment above 64"));
        }
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(DATA_OFFSET))
            .ok_or(OpenError::TooLarge(len))?;
        let seg = new_segment(bytes, kind, prefix)?;
        let header: Mapped<Header> = Mapped::at(Arc::new(seg), 0)?;
        header
            .elem_size
            .store(std::mem::size_of::<T>() as u32, Ordering::Relaxed);
        header
            .elem_align
            .store(std::mem::align_of::<T>() as u32, Ordering::Relaxed);
        header.len.store(len as u64, Ordering::Relaxed);
        let cells = Self::attach_header(header)?;
        cells
            .slice()
            .write_from(0, init)
            .map_err(|_| OpenError::InvalidConfig("init"))?;
        cells.header.segment().mark_initialized();
        Ok(cells)
    }

    fn attach(seg: Segment) -> Result<Self, OpenError> {
        Self::attach_header(Mapped::at(Arc::new(seg), 0)?)
    }

    fn attach_header(header: Mapped<Header>) -> Result<Self, OpenError> {
        let size = header.elem_size.load(Ordering::Relaxed) as usize;
        let align = header.elem_align.load(Ordering::Relaxed) as usize;
        if size != std::mem::size_of::<T>() || align != std::mem::align_of::<T>() {
            return Err(OpenError::InvalidConfig(
                "the segment holds another element type than T",
            ));
        }
        let room = header
            .segment()
            .payload_len()
            .checked_sub(DATA_OFFSET)
            .ok_or(OpenError::TooSmall {
                size: header.segment().payload_len(),
                need: DATA_OFFSET,
            })?
            / size.max(1);
        let len = usize::try_from(header.len.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if len > room && size != 0 {
            return Err(OpenError::TooSmall {
                size: header.segment().payload_len(),
                need: len.saturating_mul(size).saturating_add(DATA_OFFSET),
            });
        }
        // SAFETY: the payload is at least DATA_OFFSET bytes (the header fits, checked by
        // `Mapped::at`), so the data start is inside the mapping; 64-byte aligned >= align.
        let ptr = unsafe { header.segment().payload_ptr().add(DATA_OFFSET) };
        let data = NonNull::new(ptr.cast::<T>()).ok_or(OpenError::InvalidConfig("null"))?;
        Ok(Cells {
            header,
            data,
            len,
            _t: PhantomData,
        })
    }

    fn slice(&self) -> SharedSlice<'_, T> {
        // SAFETY: `data..data+len` is inside the mapping (checked at attach), aligned, and
        // the mapping lives as long as `self`.
        unsafe { SharedSlice::new(self.data, self.len) }
    }

    fn segment(&self) -> &Segment {
        self.header.segment()
    }

    fn lock(&self) -> Lock {
        Lock::within(self.header.segment().clone(), 0).expect("header checked at attach")
    }
}

macro_rules! handles {
    ($ty:ident, $kind:expr) => {
        impl<T: Plain> $ty<T> {
            /// The fd and size a spawned child needs for `from_handle`.
            pub fn handle(&self) -> SegmentHandle {
                self.cells.segment().handle()
            }

            /// Maps it again in a spawned child; refused if the element type differs.
            pub fn from_handle(handle: SegmentHandle) -> Result<Self, OpenError> {
                Self::wrap(Cells::attach(Segment::from_handle(handle, $kind)?)?)
            }

            /// Opens one another program created with `create_named`.
            pub fn open_named(name: &str) -> Result<Self, OpenError> {
                Self::wrap(Cells::attach(Segment::open_named(name, $kind)?)?)
            }

            /// The name, for a named one.
            pub fn name(&self) -> Option<&str> {
                self.cells.segment().name()
            }
        }
    };
}

/// A `T` in shared memory with its own [`Lock`] (Python's `multiprocessing.Value`).
///
/// [`get`](Value::get) and [`set`](Value::set) copy atomically for types of up to 8 aligned
/// bytes and do not take the lock; hold [`lock`](Value::lock) for read-modify-write.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::Value;
/// let v = Value::new(41u64)?;
/// {
///     let g = v.lock()?;
///     g.set(g.get() + 1);
/// }
/// assert_eq!(v.get(), 42);
/// let copy = Value::<u64>::from_handle(v.handle())?; // as a spawned child would
/// assert_eq!(copy.get(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Value<T: Plain> {
    cells: Cells<T>,
    lock: Lock,
}

/// Holds a [`Value`]'s lock; reads and writes the value meanwhile.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Plain> {
    value: &'a Value<T>,
    _guard: LockGuard<'a>,
}

impl<T: Plain + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("value", &self.get()).finish()
    }
}

impl<T: Plain> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueGuard").finish_non_exhaustive()
    }
}

impl<T: Plain> Value<T> {
    /// A new value in a nameless segment.
    pub fn new(value: T) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::VALUE, 1, None, &[value])?)
    }

    /// A named value (`/{prefix}-{random}`) for unrelated programs.
    ///
    /// ```
    /// use ipc_core::sync::Value;
    /// let v = Value::create_named("doc-value", 7i32)?;
    /// assert_eq!(Value::<i32>::open_named(v.name().unwrap())?.get(), 7);
    /// assert!(Value::<u8>::open_named(v.name().unwrap()).is_err()); // another type
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str, value: T) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::VALUE, 1, Some(prefix), &[value])?)
    }

    fn wrap(cells: Cells<T>) -> Result<Self, OpenError> {
        if cells.len != 1 {
            return Err(OpenError::InvalidConfig(
                "a Value holds exactly one element",
            ));
        }
        let lock = cells.lock();
        Ok(Value { cells, lock })
    }

    /// The value, copied out without the lock.
    pub fn get(&self) -> T {
        self.cells.slice().get(0).expect("len checked at attach")
    }

    /// Writes the value without the lock.
    pub fn set(&self, value: T) {
        let _ = self.cells.slice().set(0, value);
    }

    /// Takes the lock (see [`LockGuard::owner_died`] for a holder that died).
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, LockError> {
        self.lock.acquire().map(|g| ValueGuard {
            value: self,
            _guard: g,
        })
    }

    /// Takes the lock, waiting at most `timeout` ([`LockError::Timeout`] after that).
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = ipc_core::sync::Value::new(0u32)?;
    /// let g = v.lock_timeout(Duration::from_millis(10))?;
    /// assert!(v.lock_timeout(Duration::from_millis(10)).is_err()); // held above
    /// g.set(1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ValueGuard<'_, T>, LockError> {
        self.lock.acquire_timeout(timeout).map(|g| ValueGuard {
            value: self,
            _guard: g,
        })
    }

    /// The lock (Python's `get_lock()`), to hold across several values.
    ///
    /// ```
    /// let v = ipc_core::sync::Value::new(1u8)?;
    /// let _g = v.get_lock().acquire()?;
    /// assert!(v.get_lock().locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

handles!(Value, kind::VALUE);

impl<T: Plain> ValueGuard<'_, T> {
    /// True if the lock was taken over from a holder that died (check the data).
    pub fn owner_died(&self) -> bool {
        self._guard.owner_died()
    }

    /// The value.
    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        self.value.set(value)
    }
}

/// A `T` in shared memory without a lock (Python's `RawValue`).
///
/// # Examples
///
/// ```
/// use ipc_core::sync::RawValue;
/// let v = RawValue::new(1.5f64)?;
/// v.set(2.5);
/// assert_eq!(v.get(), 2.5);
/// # Ok::<(), ipc_core::OpenError>(())
/// ```
#[derive(Clone)]
pub struct RawValue<T: Plain> {
    cells: Cells<T>,
}

impl<T: Plain + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Plain> RawValue<T> {
    /// A new raw value in a nameless segment.
    pub fn new(value: T) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_VALUE, 1, None, &[value])?)
    }

    /// A named raw value for unrelated programs.
    pub fn create_named(prefix: &str, value: T) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_VALUE, 1, Some(prefix), &[value])?)
    }

    fn wrap(cells: Cells<T>) -> Result<Self, OpenError> {
        if cells.len != 1 {
            return Err(OpenError::InvalidConfig(
                "a Value holds exactly one element",
            ));
        }
        Ok(RawValue { cells })
    }

    /// The value, copied out.
    pub fn get(&self) -> T {
        self.cells.slice().get(0).expect("len checked at attach")
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        let _ = self.cells.slice().set(0, value);
    }
}

handles!(RawValue, kind::RAW_VALUE);

/// A fixed-length array of `T` in shared memory with its own [`Lock`] (Python's
/// `multiprocessing.Array`). Element access is bounds-checked and copies.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::Array;
/// let a = Array::from_slice(&[1u32, 2, 3])?;
/// a.set(0, 10)?;
/// assert_eq!(a.get(0), Some(10));
/// assert_eq!(a.get(3), None);
/// assert!(a.set(3, 0).is_err());
/// {
///     let g = a.lock()?; // several elements under the lock
///     g.set(1, g.get(1).unwrap() + g.get(2).unwrap())?;
/// }
/// assert_eq!(a.to_vec(), [10, 5, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Array<T: Plain> {
    cells: Cells<T>,
    lock: Lock,
}

/// Holds an [`Array`]'s lock; reads and writes elements meanwhile.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Plain> {
    array: &'a Array<T>,
    _guard: LockGuard<'a>,
}

impl<T: Plain> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T: Plain> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayGuard").finish_non_exhaustive()
    }
}

impl<T: Plain> Array<T> {
    /// `len` zeroed elements in a nameless segment (Python's `Array(typecode, size)`).
    ///
    /// ```
    /// let a = ipc_core::sync::Array::<i64>::zeroed(4)?;
    /// assert_eq!(a.to_vec(), [0; 4]);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn zeroed(len: usize) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, len, None, &[])?)
    }

    /// A copy of `init` in a nameless segment.
    pub fn from_slice(init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, init.len(), None, init)?)
    }

    /// A named copy of `init` for unrelated programs.
    pub fn create_named(prefix: &str, init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, init.len(), Some(prefix), init)?)
    }

    fn wrap(cells: Cells<T>) -> Result<Self, OpenError> {
        let lock = cells.lock();
        Ok(Array { cells, lock })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `i` without the lock, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        self.cells.slice().get(i)
    }

    /// Writes element `i` without the lock.
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.cells.slice().set(i, value)
    }

    /// Copies every element out, without the lock.
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.slice().to_vec()
    }

    /// A bounds-checked view of all elements (no lock).
    pub fn as_shared_slice(&self) -> SharedSlice<'_, T> {
        self.cells.slice()
    }

    /// Takes the lock.
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, LockError> {
        self.lock.acquire().map(|g| ArrayGuard {
            array: self,
            _guard: g,
        })
    }

    /// Takes the lock, waiting at most `timeout` ([`LockError::Timeout`] after that).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ArrayGuard<'_, T>, LockError> {
        self.lock.acquire_timeout(timeout).map(|g| ArrayGuard {
            array: self,
            _guard: g,
        })
    }

    /// The lock (Python's `get_lock()`).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

handles!(Array, kind::ARRAY);

impl<T: Plain> ArrayGuard<'_, T> {
    /// True if the lock was taken over from a holder that died (check the data).
    pub fn owner_died(&self) -> bool {
        self._guard.owner_died()
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        self.array.get(i)
    }

    /// Writes element `i`.
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.array.set(i, value)
    }

    /// Copies every element out.
    pub fn to_vec(&self) -> Vec<T> {
        self.array.to_vec()
    }

    /// Copies `src` in from index `at`.
    pub fn write_from(&self, at: usize, src: &[T]) -> Result<(), ViewError> {
        self.array.cells.slice().write_from(at, src)
    }
}

/// A fixed-length array of `T` in shared memory without a lock (Python's `RawArray`).
///
/// # Examples
///
/// ```
/// use ipc_core::sync::RawArray;
/// let a = RawArray::from_slice(&[0u8; 16])?;
/// a.as_shared_slice().write_from(4, b"abcd")?;
/// assert_eq!(&a.to_vec()[4..8], b"abcd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RawArray<T: Plain> {
    cells: Cells<T>,
}

impl<T: Plain> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T: Plain> RawArray<T> {
    /// `len` zeroed elements in a nameless segment.
    pub fn zeroed(len: usize) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_ARRAY, len, None, &[])?)
    }

    /// A copy of `init` in a nameless segment.
    pub fn from_slice(init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_ARRAY, init.len(), None, init)?)
    }

    /// A named copy of `init` for unrelated programs.
    pub fn create_named(prefix: &str, init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(
            kind::RAW_ARRAY,
            init.len(),
            Some(prefix),
            init,
        )?)
    }

    fn wrap(cells: Cells<T>) -> Result<Self, OpenError> {
        Ok(RawArray { cells })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        self.cells.slice().get(i)
    }

    /// Writes element `i`.
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.cells.slice().set(i, value)
    }

    /// Copies every element out.
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.slice().to_vec()
    }

    /// A bounds-checked view of all elements.
    pub fn as_shared_slice(&self) -> SharedSlice<'_, T> {
        self.cells.slice()
    }
}

handles!(RawArray, kind::RAW_ARRAY);
