//! `SharedMemory`: a named block of bytes (Python's `multiprocessing.shared_memory`).

use std::fmt;
use std::io;
use std::ptr::NonNull;

use super::error::ViewError;
use super::plain::{load_bytes, store_bytes, Plain, SharedSlice};
use super::{kind, new_segment};
use crate::error::OpenError;
use crate::primitive::{AtomicU64, Ordering};
use crate::segment::{Segment, SegmentHandle};

const DATA_OFFSET: usize = 64;

// The size word (the whole header) fits before the data.
const _: () = assert!(std::mem::size_of::<AtomicU64>() <= DATA_OFFSET);

/// A block of shared memory with a name (Python's `SharedMemory`), read and written through
/// bounds- and alignment-checked copies and typed views.
///
/// Unlike Python, the creator removes the name when it drops the block (so a crash of the
/// creator leaks nothing it had dropped, and nothing is left for a resource tracker);
/// [`unlink`](SharedMemory::unlink) removes it earlier. Mappings stay valid after unlink.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::SharedMemory;
///
/// let shm = SharedMemory::create(1024)?;
/// shm.write(0, b"hello")?;
/// let other = SharedMemory::open(shm.name().unwrap())?; // e.g. in another program
/// let mut buf = [0u8; 5];
/// other.read(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// let words = other.view::<u64>(64, 8)?;
/// words.set(7, 99)?;
/// assert_eq!(shm.read_at::<u64>(64 + 7 * 8)?, 99);
/// assert!(shm.view::<u64>(3, 1).is_err()); // misaligned
/// assert!(shm.view::<u64>(1024, 1).is_err()); // out of bounds
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedMemory {
    seg: Segment,
    size: usize,
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.seg.name())
            .field("size", &self.size)
            .finish()
    }
}

impl SharedMemory {
    /// Creates a zeroed block of `size` bytes named `/psm-{random}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::SharedMemory;
    ///
    /// let shm = SharedMemory::create(16)?;
    /// assert!(shm.name().is_some_and(|n| n.starts_with("/psm-")));
    /// assert_eq!(shm.size(), 16);
    /// assert_eq!(shm.read_at::<u64>(8)?, 0); // zeroed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(size: usize) -> Result<SharedMemory, OpenError> {
        Self::create_named("psm", size)
    }

    /// Creates a zeroed block of `size` bytes named `/{prefix}-{random}`.
    ///
    /// ```
    /// let shm = ipc_core::sync::SharedMemory::create_named("doc-shm", 10)?;
    /// assert!(shm.name().unwrap().starts_with("/doc-shm-"));
    /// assert_eq!(shm.size(), 10);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str, size: usize) -> Result<SharedMemory, OpenError> {
        let payload = size
            .checked_add(DATA_OFFSET)
            .ok_or(OpenError::TooLarge(size))?;
        let seg = new_segment(payload, kind::SHARED_MEMORY, Some(prefix))?;
        header(&seg).store(size as u64, Ordering::Relaxed);
        seg.mark_initialized();
        Ok(SharedMemory { seg, size })
    }

    /// Opens a block by name (Python's `SharedMemory(name)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::SharedMemory;
    ///
    /// let shm = SharedMemory::create_named("doc-shm", 8)?;
    /// let other = SharedMemory::open(shm.name().expect("named"))?; // e.g. in another program
    /// other.write(0, b"hi")?;
    /// let mut buf = [0u8; 2];
    /// shm.read(0, &mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// assert!(SharedMemory::open("/doc-shm-no-such-block").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<SharedMemory, OpenError> {
        Self::attach(Segment::open_named(name, kind::SHARED_MEMORY)?)
    }

    /// Maps the block again in a spawned child that inherited its fd.
    ///
    /// ```
    /// use ipc_core::sync::SharedMemory;
    /// let shm = SharedMemory::create(8)?;
    /// assert_eq!(SharedMemory::from_handle(shm.handle())?.size(), 8);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<SharedMemory, OpenError> {
        Self::attach(Segment::from_handle(handle, kind::SHARED_MEMORY)?)
    }

    fn attach(seg: Segment) -> Result<SharedMemory, OpenError> {
        if seg.payload_len() < DATA_OFFSET {
            return Err(OpenError::TooSmall {
                size: seg.payload_len(),
                need: DATA_OFFSET,
            });
        }
        let room = seg.payload_len() - DATA_OFFSET;
        let size = usize::try_from(header(&seg).load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if size > room {
            return Err(OpenError::TooSmall {
                size: seg.payload_len(),
                need: size.saturating_add(DATA_OFFSET),
            });
        }
        Ok(SharedMemory { seg, size })
    }

    /// The fd and size a spawned child needs for [`from_handle`](Self::from_handle).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::SharedMemory;
    ///
    /// let shm = SharedMemory::create(8)?;
    /// let arg = shm.handle().to_string(); // "fd:size", passed to the child
    /// let child_side = SharedMemory::from_handle(arg.parse()?)?;
    /// child_side.write_at(0, 42u64)?;
    /// assert_eq!(shm.read_at::<u64>(0)?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.seg.handle()
    }

    /// The name (`/prefix-random`) of a named segment, `None` for a nameless one. It stays
    /// after [`unlink`](Self::unlink), as Python's `name` does, though nothing can open it
    /// by that name any more.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = ipc_core::sync::SharedMemory::create_named("doc-shm", 8)?;
    /// assert!(shm.name().is_some_and(|n| n.starts_with("/doc-shm-")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.seg.name()
    }

    /// Usable bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = ipc_core::sync::SharedMemory::create(10)?;
    /// assert_eq!(shm.size(), 10);
    /// assert!(shm.write(10, b"x").is_err()); // past the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// Removes the name now: later `open`s fail, existing mappings stay valid.
    ///
    /// ```
    /// use ipc_core::sync::SharedMemory;
    /// let mut shm = SharedMemory::create(8)?;
    /// let name = shm.name().unwrap().to_owned();
    /// shm.unlink()?;
    /// assert!(SharedMemory::open(&name).is_err());
    /// shm.write(0, b"mapped")?; // still usable here
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlink(&mut self) -> io::Result<()> {
        self.seg.unlink()
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<(), ViewError> {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(ViewError::OutOfBounds {
                offset,
                len,
                size: self.size,
            });
        }
        if offset % align != 0 {
            return Err(ViewError::Misaligned { offset, align });
        }
        Ok(())
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the payload is at least DATA_OFFSET bytes (checked at create/attach).
        unsafe { self.seg.payload_ptr().add(DATA_OFFSET) }
    }

    /// Copies `buf.len()` bytes at `offset` out of the block.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{SharedMemory, ViewError};
    ///
    /// let shm = SharedMemory::create(8)?;
    /// shm.write(2, b"abc")?;
    /// let mut buf = [0u8; 3];
    /// shm.read(2, &mut buf)?;
    /// assert_eq!(&buf, b"abc");
    /// let e = shm.read(6, &mut buf);
    /// assert_eq!(e, Err(ViewError::OutOfBounds { offset: 6, len: 3, size: 8 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), ViewError> {
        self.check(offset, buf.len(), 1)?;
        // SAFETY: `offset + len <= size`, checked; `buf` is private.
        unsafe { load_bytes(self.data().add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `bytes` into the block at `offset`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{SharedMemory, ViewError};
    ///
    /// let shm = SharedMemory::create(4)?;
    /// shm.write(0, b"abcd")?;
    /// let e = shm.write(1, b"abcd");
    /// assert_eq!(e, Err(ViewError::OutOfBounds { offset: 1, len: 4, size: 4 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), ViewError> {
        self.check(offset, bytes.len(), 1)?;
        // SAFETY: `offset + len <= size`, checked; `bytes` is private.
        unsafe { store_bytes(self.data().add(offset), bytes.as_ptr(), bytes.len()) };
        Ok(())
    }

    /// Reads the `T` at `offset` (bounds and alignment checked).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{SharedMemory, ViewError};
    ///
    /// let shm = SharedMemory::create(16)?;
    /// shm.write(8, &7u32.to_ne_bytes())?;
    /// assert_eq!(shm.read_at::<u32>(8)?, 7);
    /// assert_eq!(shm.read_at::<u32>(2), Err(ViewError::Misaligned { offset: 2, align: 4 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_at<T: Plain>(&self, offset: usize) -> Result<T, ViewError> {
        Ok(self.view::<T>(offset, 1)?.get(0).expect("length is 1"))
    }

    /// Writes `value` at `offset` (bounds and alignment checked).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{SharedMemory, ViewError};
    ///
    /// let shm = SharedMemory::create(16)?;
    /// shm.write_at(8, 1.5f64)?;
    /// assert_eq!(shm.read_at::<f64>(8)?, 1.5);
    /// assert!(matches!(shm.write_at(16, 0u8), Err(ViewError::OutOfBounds { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_at<T: Plain>(&self, offset: usize, value: T) -> Result<(), ViewError> {
        self.view::<T>(offset, 1)?.set(0, value)
    }

    /// A typed view of `len` values of `T` at `offset`: [`ViewError::OutOfBounds`] or
    /// [`ViewError::Misaligned`] if it does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{SharedMemory, ViewError};
    ///
    /// let shm = SharedMemory::create(64)?;
    /// let words = shm.view::<u32>(16, 4)?; // bytes 16..32 as four u32
    /// words.write_from(0, &[1, 2, 3, 4])?;
    /// assert_eq!(shm.read_at::<u32>(28)?, 4);
    /// assert!(matches!(shm.view::<u32>(60, 2), Err(ViewError::OutOfBounds { .. })));
    /// assert!(matches!(shm.view::<u32>(1, 1), Err(ViewError::Misaligned { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn view<T: Plain>(
        &self,
        offset: usize,
        len: usize,
    ) -> Result<SharedSlice<'_, T>, ViewError> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or(ViewError::OutOfBounds {
                offset,
                len: usize::MAX,
                size: self.size,
            })?;
        self.check(offset, bytes, std::mem::align_of::<T>())?;
        // SAFETY: `offset + bytes <= size`, checked.
        let p = unsafe { self.data().add(offset) };
        let ptr = NonNull::new(p.cast::<T>()).ok_or(ViewError::Misaligned { offset, align: 1 })?;
        // SAFETY: in bounds and aligned (the data starts 64-byte aligned; offset checked),
        // mapped for as long as `self` is borrowed.
        Ok(unsafe { SharedSlice::new(ptr, len) })
    }
}

/// The size word at the start of the payload.
///
/// Callers check `seg.payload_len() >= DATA_OFFSET` first.
fn header(seg: &Segment) -> &AtomicU64 {
    debug_assert!(seg.payload_len() >= DATA_OFFSET);
    // SAFETY: the payload is 64-byte aligned and at least DATA_OFFSET (> 8) bytes long, as
    // the callers check; an atomic is valid for any bits.
    unsafe { &*(seg.payload_ptr() as *const AtomicU64) }
}
