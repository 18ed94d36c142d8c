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
        Self::check_type()?;
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

    /// A zero-sized `T` is refused: its length could not be checked against the segment's
    /// size, so a corrupted one (up to 2^64) would make every walk over the cells endless.
    fn check_type() -> Result<(), OpenError> {
        if std::mem::size_of::<T>() == 0 {
            return Err(OpenError::InvalidConfig("zero-sized element type"));
        }
        Ok(())
    }

    fn attach_header(header: Mapped<Header>) -> Result<Self, OpenError> {
        Self::check_type()?;
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
            / size;
        let len = usize::try_from(header.len.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if len > room {
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
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Value) => { Value::create_named("doc-cells", 7u8) };
            /// #     (RawValue) => { RawValue::create_named("doc-cells", 7u8) };
            /// #     ($t:ident) => { $t::create_named("doc-cells", &[7u8]) };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: a ", stringify!($ty), "<u8>, made by `create_named`")]
            /// let handle = a.handle(); // for a spawned child that inherits the fd
            #[doc = concat!("let b = ", stringify!($ty), "::<u8>::from_handle(handle)?;")]
            /// assert_eq!(b.handle().size, handle.size);
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn handle(&self) -> SegmentHandle {
                self.cells.segment().handle()
            }

            /// Maps it again in a spawned child; refused if the element's size or alignment
            /// differs (the type itself is not recorded: use the same type on both sides).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Value) => { Value::create_named("doc-cells", 7u8) };
            /// #     (RawValue) => { RawValue::create_named("doc-cells", 7u8) };
            /// #     ($t:ident) => { $t::create_named("doc-cells", &[7u8]) };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: a ", stringify!($ty), "<u8>, made by `create_named`")]
            /// // in the child:
            #[doc = concat!("let b = ", stringify!($ty), "::<u8>::from_handle(a.handle())?;")]
            /// assert_eq!(b.name(), None); // mapped from the fd, not by name
            #[doc = concat!("let wrong = ", stringify!($ty), "::<u64>::from_handle(a.handle());")]
            /// assert!(wrong.is_err()); // the elements are u8
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn from_handle(handle: SegmentHandle) -> Result<Self, OpenError> {
                Self::wrap(Cells::attach(Segment::from_handle(handle, $kind)?)?)
            }

            /// Opens one another program created with `create_named`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Value) => { Value::create_named("doc-cells", 7u8) };
            /// #     (RawValue) => { RawValue::create_named("doc-cells", 7u8) };
            /// #     ($t:ident) => { $t::create_named("doc-cells", &[7u8]) };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: a ", stringify!($ty), "<u8>, made by `create_named`")]
            #[doc = concat!("let b = ", stringify!($ty), "::<u8>::open_named(a.name().unwrap())?;")]
            /// assert_eq!(b.handle().size, a.handle().size);
            #[doc = concat!("let missing = ", stringify!($ty), "::<u8>::open_named(\"/doc-none\");")]
            /// assert!(missing.is_err());
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
            pub fn open_named(name: &str) -> Result<Self, OpenError> {
                Self::wrap(Cells::attach(Segment::open_named(name, $kind)?)?)
            }

            /// The name, for a named one.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use ipc_core::sync::", stringify!($ty), ";")]
            /// # use ipc_core::sync::*;
            /// # macro_rules! create_named {
            /// #     (Value) => { Value::create_named("doc-cells", 7u8) };
            /// #     (RawValue) => { RawValue::create_named("doc-cells", 7u8) };
            /// #     ($t:ident) => { $t::create_named("doc-cells", &[7u8]) };
            /// # }
            #[doc = concat!("# let a = create_named!(", stringify!($ty), ")?;")]
            #[doc = concat!("// `a`: a ", stringify!($ty), "<u8>, made by `create_named`")]
            /// assert!(a.name().is_some_and(|n| n.starts_with("/doc-cells-")));
            #[doc = concat!("let b = ", stringify!($ty), "::<u8>::from_handle(a.handle())?;")]
            /// assert_eq!(b.name(), None); // mapped from the fd
            /// # Ok::<(), ipc_core::OpenError>(())
            /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::Value::new(7i64)?;
    /// assert_eq!(v.get(), 7);
    /// assert_eq!(v.name(), None); // reaches children by fork or `handle`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Value;
    ///
    /// let v = Value::new(1.5f64)?;
    /// let same = Value::<f64>::from_handle(v.handle())?; // another mapping
    /// v.set(2.5);
    /// assert_eq!(same.get(), 2.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> T {
        self.cells.slice().get(0).expect("len checked at attach")
    }

    /// Writes the value without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::Value::new([0u8; 4])?;
    /// v.set(*b"abcd"); // one copy; hold `lock()` to read, modify and write
    /// assert_eq!(&v.get(), b"abcd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, value: T) {
        let _ = self.cells.slice().set(0, value);
    }

    /// Takes the lock (see [`LockGuard::owner_died`] for a holder that died).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let v = ipc_core::sync::Value::new(0u64)?;
    /// {
    ///     let g = v.lock()?;
    ///     g.set(g.get() + 1); // read-modify-write under the lock
    ///     assert!(v.lock_timeout(Duration::from_millis(10)).is_err()); // held
    /// }
    /// assert_eq!(v.get(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Value;
    /// use ipc_core::testing::{fork, reap};
    ///
    /// let v = Value::new(0u32)?;
    /// assert!(!v.lock()?.owner_died());
    /// let child = fork(|| {
    ///     std::mem::forget(v.lock().unwrap()); // exits holding the lock
    ///     0
    /// });
    /// assert_eq!(reap(child), Ok(0));
    /// assert!(v.lock()?.owner_died()); // taken over from the dead child
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self._guard.owner_died()
    }

    /// The value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::Value::new(5u16)?;
    /// let g = v.lock()?;
    /// assert_eq!(g.get(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Writes the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::Value::new(5u16)?;
    /// let g = v.lock()?;
    /// g.set(g.get() * 2);
    /// drop(g);
    /// assert_eq!(v.get(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::RawValue::new(-1i32)?;
    /// assert_eq!(v.get(), -1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(value: T) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_VALUE, 1, None, &[value])?)
    }

    /// A named raw value for unrelated programs.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{RawValue, Value};
    ///
    /// let v = RawValue::create_named("doc-raw-value", 7u16)?;
    /// let name = v.name().expect("named");
    /// assert_eq!(RawValue::<u16>::open_named(name)?.get(), 7);
    /// assert!(Value::<u16>::open_named(name).is_err()); // a RawValue, not a Value
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::RawValue::new(3u8)?;
    /// assert_eq!(v.get(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> T {
        self.cells.slice().get(0).expect("len checked at attach")
    }

    /// Writes the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = ipc_core::sync::RawValue::new(3u8)?;
    /// v.set(4);
    /// assert_eq!(v.get(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// A zero-sized element type is refused ([`OpenError::InvalidConfig`]).
    ///
    /// ```
    /// let a = ipc_core::sync::Array::<i64>::zeroed(4)?;
    /// assert_eq!(a.to_vec(), [0; 4]);
    /// assert!(ipc_core::sync::Array::<[u32; 0]>::zeroed(4).is_err());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn zeroed(len: usize) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, len, None, &[])?)
    }

    /// A copy of `init` in a nameless segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Array;
    ///
    /// let a = Array::from_slice(&[1u32, 2, 3])?;
    /// assert_eq!(a.to_vec(), [1, 2, 3]);
    /// assert!(Array::<u32>::from_slice(&[])?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_slice(init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, init.len(), None, init)?)
    }

    /// A named copy of `init` for unrelated programs.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Array, RawArray};
    ///
    /// let a = Array::create_named("doc-array", &[1i16, 2])?;
    /// let name = a.name().expect("named");
    /// assert_eq!(Array::<i16>::open_named(name)?.to_vec(), [1, 2]);
    /// assert!(RawArray::<i16>::open_named(name).is_err()); // an Array, not a RawArray
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(prefix: &str, init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::ARRAY, init.len(), Some(prefix), init)?)
    }

    fn wrap(cells: Cells<T>) -> Result<Self, OpenError> {
        let lock = cells.lock();
        Ok(Array { cells, lock })
    }

    /// Number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipc_core::sync::Array::<u8>::zeroed(3)?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// True if there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Array;
    ///
    /// assert!(Array::<u8>::zeroed(0)?.is_empty());
    /// assert!(!Array::from_slice(&[1u8])?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `i` without the lock, or `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(&[4u64, 5])?;
    /// assert_eq!(a.get(1), Some(5));
    /// assert_eq!(a.get(2), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        self.cells.slice().get(i)
    }

    /// Writes element `i` without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Array, ViewError};
    ///
    /// let a = Array::<u64>::zeroed(2)?;
    /// a.set(1, 9)?;
    /// assert_eq!(a.to_vec(), [0, 9]);
    /// assert!(matches!(a.set(2, 9), Err(ViewError::OutOfBounds { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.cells.slice().set(i, value)
    }

    /// Copies every element out, without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(b"xyz")?;
    /// assert_eq!(a.to_vec(), b"xyz");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.slice().to_vec()
    }

    /// A bounds-checked view of all elements (no lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::<u32>::zeroed(4)?;
    /// let view = a.as_shared_slice();
    /// view.write_from(1, &[7, 8])?;
    /// assert_eq!(a.to_vec(), [0, 7, 8, 0]);
    /// assert!(view.write_from(3, &[1, 2]).is_err()); // does not fit
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_shared_slice(&self) -> SharedSlice<'_, T> {
        self.cells.slice()
    }

    /// Takes the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(&[1u32, 2])?;
    /// {
    ///     let g = a.lock()?; // both elements change under one lock
    ///     g.set(0, g.get(0).unwrap() + 10)?;
    ///     g.set(1, g.get(1).unwrap() + 10)?;
    /// }
    /// assert_eq!(a.to_vec(), [11, 12]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, LockError> {
        self.lock.acquire().map(|g| ArrayGuard {
            array: self,
            _guard: g,
        })
    }

    /// Takes the lock, waiting at most `timeout` ([`LockError::Timeout`] after that).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Array, LockError};
    /// use std::time::Duration;
    ///
    /// let a = Array::<u8>::zeroed(2)?;
    /// let g = a.lock_timeout(Duration::from_millis(10))?;
    /// let e = a.lock_timeout(Duration::from_millis(10)).unwrap_err(); // held above
    /// assert_eq!(e, LockError::Timeout);
    /// drop(g);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ArrayGuard<'_, T>, LockError> {
        self.lock.acquire_timeout(timeout).map(|g| ArrayGuard {
            array: self,
            _guard: g,
        })
    }

    /// The lock (Python's `get_lock()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::<u8>::zeroed(2)?;
    /// let g = a.get_lock().acquire()?; // e.g. to hold it across several arrays
    /// assert!(a.get_lock().locked());
    /// drop(g);
    /// assert!(!a.get_lock().locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

handles!(Array, kind::ARRAY);

impl<T: Plain> ArrayGuard<'_, T> {
    /// True if the lock was taken over from a holder that died (check the data).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::Array;
    /// use ipc_core::testing::{fork, reap};
    ///
    /// let a = Array::<u32>::zeroed(2)?;
    /// let child = fork(|| {
    ///     let g = a.lock().unwrap();
    ///     g.set(0, 1).unwrap(); // dies halfway through an update
    ///     std::mem::forget(g);
    ///     0
    /// });
    /// assert_eq!(reap(child), Ok(0));
    /// let g = a.lock()?;
    /// assert!(g.owner_died()); // check the data: here [1, 0]
    /// g.write_from(0, &[0, 0])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self._guard.owner_died()
    }

    /// Element `i`, or `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(&[3u8, 4])?;
    /// let g = a.lock()?;
    /// assert_eq!((g.get(1), g.get(2)), (Some(4), None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        self.array.get(i)
    }

    /// Writes element `i`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(&[3u8, 4])?;
    /// let g = a.lock()?;
    /// g.set(0, 5)?;
    /// assert!(g.set(2, 5).is_err()); // past the end
    /// drop(g);
    /// assert_eq!(a.to_vec(), [5, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.array.set(i, value)
    }

    /// Copies every element out.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::from_slice(&[3u8, 4])?;
    /// let g = a.lock()?; // a consistent snapshot while writers take the lock
    /// assert_eq!(g.to_vec(), [3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.array.to_vec()
    }

    /// Copies `src` in from index `at`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::Array::<u8>::zeroed(4)?;
    /// let g = a.lock()?;
    /// g.write_from(2, &[1, 2])?;
    /// assert!(g.write_from(3, &[1, 2]).is_err()); // does not fit
    /// assert_eq!(g.to_vec(), [0, 0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::<f32>::zeroed(3)?;
    /// assert_eq!(a.to_vec(), [0.0; 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn zeroed(len: usize) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_ARRAY, len, None, &[])?)
    }

    /// A copy of `init` in a nameless segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::from_slice(&[1i8, -1])?;
    /// assert_eq!(a.to_vec(), [1, -1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_slice(init: &[T]) -> Result<Self, OpenError> {
        Self::wrap(Cells::create(kind::RAW_ARRAY, init.len(), None, init)?)
    }

    /// A named copy of `init` for unrelated programs.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::RawArray;
    ///
    /// let a = RawArray::create_named("doc-raw-array", &[1u32, 2])?;
    /// let b = RawArray::<u32>::open_named(a.name().expect("named"))?;
    /// b.set(0, 10)?;
    /// assert_eq!(a.to_vec(), [10, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipc_core::sync::RawArray::<u8>::zeroed(3)?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// True if there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::RawArray;
    ///
    /// assert!(RawArray::<u8>::from_slice(&[])?.is_empty());
    /// assert!(!RawArray::<u8>::zeroed(1)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `i`, or `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::from_slice(&[4u64, 5])?;
    /// assert_eq!(a.get(0), Some(4));
    /// assert_eq!(a.get(2), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        self.cells.slice().get(i)
    }

    /// Writes element `i`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{RawArray, ViewError};
    ///
    /// let a = RawArray::<u64>::zeroed(2)?;
    /// a.set(0, 9)?;
    /// assert_eq!(a.to_vec(), [9, 0]);
    /// assert!(matches!(a.set(2, 9), Err(ViewError::OutOfBounds { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, i: usize, value: T) -> Result<(), ViewError> {
        self.cells.slice().set(i, value)
    }

    /// Copies every element out.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::from_slice(b"xyz")?;
    /// assert_eq!(a.to_vec(), b"xyz");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.slice().to_vec()
    }

    /// A bounds-checked view of all elements.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipc_core::sync::RawArray::<u16>::zeroed(3)?;
    /// let view = a.as_shared_slice();
    /// view.set(2, 7)?;
    /// assert_eq!((view.len(), view.get(2)), (3, Some(7)));
    /// assert!(view.set(3, 7).is_err()); // past the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_shared_slice(&self) -> SharedSlice<'_, T> {
        self.cells.slice()
    }
}

handles!(RawArray, kind::RAW_ARRAY);
