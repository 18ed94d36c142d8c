//! Shared-memory segments: nameless (`memfd_create`, the default) or named (`shm_open`).
//!
//! Every segment starts with a `SegmentHeader`: magic, layout version, kind, size and an
//! init-complete flag written last. Opening checks all of them, so a process never reads
//! a half-built or foreign segment. What follows the header is the segment's payload.
//!
//! A nameless segment cannot leak: it lives exactly as long as some process maps it or holds
//! its fd. A forked child inherits the mapping; a spawned child re-attaches from a
//! [`SegmentHandle`] (fd number + size) when the fd was left open across `exec`.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::str::FromStr;

use crate::error::OpenError;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const MAGIC: u64 = u64::from_le_bytes(*b"MPRS-SHM");
/// Bumped whenever any shared layout or protocol changes; mismatches are refused at open.
/// (3: consumers move a ring's free cursor in batches, and producers advance it after
/// registering as waiters; processes of version 2 mixed in would lose wake-ups.
/// 4: a participant slot is one owner word (pid and start time) with a reclaiming bit,
/// plus a word for the layer above that a reclaimed slot hands to the ring's orphans;
/// 5: the same, bumped past a development build of 4 that laid slots out as pid, word,
/// start time;
/// 6: `READY` and `DONE` are release stores where `membarrier` works, and ring waiters
/// call `membarrier` before their re-check; a process of version 5 would sleep without
/// it and wake a `POLL` late;
/// 7: a ring's head and tail cursors lag a few records behind the records' states, and
/// participants walk the descriptors from them; a process of version 6 would take the
/// cursors as exact;
/// 8: a barrier's history entries are `gen + 1` (and its broken mark moved to bit 40);
/// a process of version 7 would read another generation's outcome.)
pub const LAYOUT_VERSION: u32 = 8;
const INIT_DONE: u32 = 0x0001_D04E;

/// The first 64 bytes of every segment.
#[repr(C, align(64))]
pub(crate) struct SegmentHeader {
    magic: AtomicU64,
    size: AtomicU64,
    version: AtomicU32,
    kind: AtomicU32,
    init: AtomicU32,
}

/// Bytes taken by the header; the payload starts here, 64-byte aligned.
pub const HEADER_SIZE: usize = std::mem::size_of::<SegmentHeader>();

/// The kind of the initialized segment `fd` names, read with `pread` (nothing mapped, so a
/// file truncated meanwhile gives `None`, not SIGBUS); `None` for anything that is not a
/// shared-memory file (tmpfs or hugetlbfs: `shm_open` and memfd segments) holding one.
pub(crate) fn peek_kind(fd: RawFd) -> Option<Kind> {
    // SAFETY: `statfs` is a plain C struct for which all-zero bytes are valid.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes only into `fs`; a bad `fd` is an error.
    if unsafe { libc::fstatfs(fd, &mut fs) } < 0 {
        return None;
    }
    if fs.f_type != libc::TMPFS_MAGIC && fs.f_type != libc::HUGETLBFS_MAGIC {
        return None;
    }
    let mut h = [0u8; 28];
    // SAFETY: reads at most `h.len()` bytes into `h`.
    let n = unsafe { libc::pread(fd, h.as_mut_ptr().cast(), h.len(), 0) };
    if n != h.len() as isize {
        return None;
    }
    let u32_at = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let magic = u64::from_ne_bytes(h[..8].try_into().ok()?);
    // The fields' offsets in `SegmentHeader` (asserted below).
    (magic == MAGIC && u32_at(16) == LAYOUT_VERSION && u32_at(24) == INIT_DONE)
        .then(|| Kind(u32_at(20)))
}

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(SegmentHeader, magic) == 0);
    assert!(offset_of!(SegmentHeader, version) == 16);
    assert!(offset_of!(SegmentHeader, kind) == 20);
    assert!(offset_of!(SegmentHeader, init) == 24);
};

/// What a segment holds, checked at open so a ring is never opened as something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(pub u32);

/// How to find a segment again from a spawned child: an inherited fd and the mapped size.
///
/// Its text form `fd:size` fits an environment variable or an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHandle {
    /// File descriptor number, valid in the process that received it.
    pub fd: RawFd,
    /// Total size of the segment in bytes, header included.
    pub size: usize,
}

impl fmt::Display for SegmentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.fd, self.size)
    }
}

impl FromStr for SegmentHandle {
    type Err = OpenError;
    fn from_str(s: &str) -> Result<Self, OpenError> {
        let bad = || OpenError::BadHandle(s.to_owned());
        let (fd, size) = s.split_once(':').ok_or_else(bad)?;
        Ok(SegmentHandle {
            fd: fd.parse().map_err(|_| bad())?,
            size: size.parse().map_err(|_| bad())?,
        })
    }
}

/// A mapped shared-memory segment.
///
/// # Examples
///
/// ```
/// use ipc_core::segment::{Kind, Segment};
///
/// let seg = Segment::create(4096, Kind(7))?;
/// assert!(seg.payload_len() >= 4096);
/// // Anything holding the handle (a forked or spawned child) can map it again.
/// let again = Segment::from_handle(seg.handle(), Kind(7))?;
/// assert_eq!(again.payload_len(), seg.payload_len());
/// # Ok::<(), ipc_core::OpenError>(())
/// ```
pub struct Segment {
    ptr: NonNull<u8>,
    size: usize,
    fd: OwnedFd,
    name: Option<String>,
    /// The creator's pid while it should unlink the name on drop (0: never). A pid,
    /// not a flag: a forked child holds a copy of this struct and must not unlink.
    unlink_by: u32,
}

// SAFETY: the mapping is shared memory accessed only through atomics or through the ring's
// ownership protocol; the pointer stays valid until drop, from any thread.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` exposes no unsynchronised interior mutation of its own.
unsafe impl Sync for Segment {}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("fd", &self.fd.as_raw_fd())
            .field("size", &self.size)
            .field("name", &self.name)
            .finish()
    }
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

/// `fstat(2)` of `fd`.
pub(crate) fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: `stat` is a plain C struct for which all-zero bytes are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`; a closed or foreign `fd` is an error, not UB.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(errno());
    }
    Ok(st)
}

fn total_size(payload: usize) -> Result<usize, OpenError> {
    payload
        .checked_add(HEADER_SIZE + 63)
        .map(|n| n & !63)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(OpenError::TooLarge(payload))
}

impl Segment {
    /// Creates a nameless segment with at least `payload` zeroed bytes after the header,
    /// ready to open.
    ///
    /// The fd is close-on-exec; a spawner clears that flag only for the child it starts.
    /// The file's size is sealed (`F_SEAL_SHRINK`, `F_SEAL_GROW`): no process holding the
    /// fd can shrink it under the others' mappings.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    /// use ipc_core::OpenError;
    ///
    /// let seg = Segment::create(100, Kind(1))?;
    /// assert!(seg.payload_len() >= 100);
    /// assert_eq!(seg.name(), None); // nameless
    /// assert!(matches!(Segment::create(usize::MAX, Kind(1)), Err(OpenError::TooLarge(_))));
    /// # Ok::<(), OpenError>(())
    /// ```
    pub fn create(payload: usize, kind: Kind) -> Result<Segment, OpenError> {
        let seg = Self::create_unpublished(payload, kind)?;
        seg.mark_initialized();
        Ok(seg)
    }

    /// Creates a named segment `/{prefix}-{random}` (mode 0600, `O_EXCL`) that unrelated
    /// programs can [`open_named`](Self::open_named). The creator unlinks the name on drop;
    /// a creator killed by SIGKILL leaves it in `/dev/shm` until someone unlinks it.
    ///
    /// Unlike a nameless segment, whose size is sealed, a named one can be shrunk by any
    /// process of the same user that opens it, and every process mapping it then dies of
    /// SIGBUS when it touches the lost pages: share names only with programs you trust
    /// that far.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    ///
    /// let seg = Segment::create_named("doc-seg", 64, Kind(1))?;
    /// let name = seg.name().expect("named");
    /// assert!(name.starts_with("/doc-seg-"));
    /// let other = Segment::open_named(name, Kind(1))?; // e.g. in an unrelated program
    /// assert_eq!(other.payload_len(), seg.payload_len());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str, payload: usize, kind: Kind) -> Result<Segment, OpenError> {
        let seg = Self::create_named_unpublished(prefix, payload, kind)?;
        seg.mark_initialized();
        Ok(seg)
    }

    /// [`create`](Self::create) without marking the segment initialised: openers get
    /// [`OpenError::NotInitialized`] until [`mark_initialized`](Self::mark_initialized).
    pub(crate) fn create_unpublished(payload: usize, kind: Kind) -> Result<Segment, OpenError> {
        let size = total_size(payload)?;
        // SAFETY: the name is a NUL-terminated literal.
        let raw = unsafe {
            libc::memfd_create(
                c"mp-rs".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(OpenError::Io(errno()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Self::init(fd, size, kind, None)
    }

    /// [`create_named`](Self::create_named) without marking the segment initialised.
    pub(crate) fn create_named_unpublished(
        prefix: &str,
        payload: usize,
        kind: Kind,
    ) -> Result<Segment, OpenError> {
        let size = total_size(payload)?;
        for _ in 0..16 {
            let name = format!("/{prefix}-{:016x}", random_u64().map_err(OpenError::Io)?);
            let cname = CString::new(name.clone()).map_err(|_| OpenError::BadName(name.clone()))?;
            let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
            // SAFETY: `cname` is a valid C string for the duration of the call.
            let raw = unsafe { libc::shm_open(cname.as_ptr(), flags, 0o600) };
            if raw < 0 {
                let e = errno();
                if e.raw_os_error() == Some(libc::EEXIST) {
                    continue;
                }
                return Err(OpenError::Io(e));
            }
            // SAFETY: `raw` is a fresh fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            return match Self::init(fd, size, kind, Some(name.clone())) {
                Ok(seg) => Ok(seg),
                Err(e) => {
                    // SAFETY: `cname` is a valid C string.
                    unsafe { libc::shm_unlink(cname.as_ptr()) };
                    Err(e)
                }
            };
        }
        Err(OpenError::Io(io::Error::other(
            "no free random segment name",
        )))
    }

    /// Opens a named segment created by another program.
    ///
    /// Returns [`OpenError::NotInitialized`] while its creator is still building it:
    /// retry after a moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    /// use ipc_core::OpenError;
    ///
    /// let seg = Segment::create_named("doc-open", 64, Kind(1))?;
    /// let name = seg.name().expect("named").to_owned();
    /// assert!(Segment::open_named(&name, Kind(1)).is_ok());
    /// let wrong = Segment::open_named(&name, Kind(2));
    /// assert!(matches!(wrong, Err(OpenError::WrongKind { found: 1, expected: 2 })));
    /// drop(seg); // the creator removes the name
    /// assert!(matches!(Segment::open_named(&name, Kind(1)), Err(OpenError::Io(_))));
    /// # Ok::<(), OpenError>(())
    /// ```
    pub fn open_named(name: &str, kind: Kind) -> Result<Segment, OpenError> {
        let cname = CString::new(name).map_err(|_| OpenError::BadName(name.to_owned()))?;
        // SAFETY: `cname` is a valid C string for the duration of the call.
        let raw = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
        if raw < 0 {
            return Err(OpenError::Io(errno()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut seg = Self::attach(fd, kind)?;
        seg.name = Some(name.to_owned());
        Ok(seg)
    }

    /// Maps a segment from an inherited fd (a spawned child's side of [`handle`](Self::handle)).
    ///
    /// The fd is duplicated, so the handle's fd stays open and owned by the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    /// use ipc_core::OpenError;
    ///
    /// let seg = Segment::create(64, Kind(1))?;
    /// let again = Segment::from_handle(seg.handle(), Kind(1))?;
    /// assert_ne!(again.fd(), seg.fd()); // a duplicate of the handle's fd
    /// let wrong = Segment::from_handle(seg.handle(), Kind(2));
    /// assert!(matches!(wrong, Err(OpenError::WrongKind { .. })));
    /// # Ok::<(), OpenError>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle, kind: Kind) -> Result<Segment, OpenError> {
        // SAFETY: F_DUPFD_CLOEXEC on an arbitrary number either fails with EBADF or
        // returns a new fd we own.
        let raw = unsafe { libc::fcntl(handle.fd, libc::F_DUPFD_CLOEXEC, 0) };
        if raw < 0 {
            return Err(OpenError::Io(errno()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let seg = Self::attach(fd, kind)?;
        if seg.size != handle.size {
            return Err(OpenError::SizeMismatch {
                header: handle.size,
                file: seg.size,
            });
        }
        Ok(seg)
    }

    /// The handle a spawned child needs to map this segment again.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment, SegmentHandle};
    ///
    /// let seg = Segment::create(64, Kind(1))?;
    /// let handle = seg.handle();
    /// assert_eq!(handle.fd, seg.fd());
    /// let text = handle.to_string(); // "fd:size", for an argument or environment variable
    /// assert_eq!(text.parse::<SegmentHandle>()?, handle);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        SegmentHandle {
            fd: self.fd.as_raw_fd(),
            size: self.size,
        }
    }

    /// The name, for a named segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    ///
    /// assert_eq!(Segment::create(64, Kind(1))?.name(), None);
    /// let named = Segment::create_named("doc-name", 64, Kind(1))?;
    /// assert!(named.name().is_some_and(|n| n.starts_with("/doc-name-")));
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Removes the name now (new opens fail; existing mappings stay valid).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    ///
    /// let mut seg = Segment::create_named("doc-unlink", 64, Kind(1))?;
    /// let name = seg.name().expect("named").to_owned();
    /// let opened = Segment::open_named(&name, Kind(1))?;
    /// seg.unlink()?;
    /// assert!(Segment::open_named(&name, Kind(1)).is_err());
    /// assert_eq!(opened.payload_len(), seg.payload_len()); // still mapped
    /// Segment::create(64, Kind(1))?.unlink()?; // nameless: nothing to do
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlink(&mut self) -> io::Result<()> {
        self.unlink_by = 0;
        let Some(name) = &self.name else {
            return Ok(());
        };
        let cname = CString::new(name.as_str()).map_err(io::Error::other)?;
        // SAFETY: `cname` is a valid C string.
        if unsafe { libc::shm_unlink(cname.as_ptr()) } < 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Start of the payload (after the header), 64-byte aligned.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let seg = Segment::create(64, Kind(1))?;
    /// let again = Segment::from_handle(seg.handle(), Kind(1))?; // a second mapping
    /// assert_eq!(seg.payload_ptr() as usize % 64, 0);
    /// // SAFETY: the payload is at least 8 bytes and 64-byte aligned, and stays mapped
    /// // while `seg` lives; any bytes are a valid AtomicU64.
    /// let word = unsafe { &*(seg.payload_ptr() as *const AtomicU64) };
    /// word.store(7, Ordering::Release);
    /// // SAFETY: as above, for `again`.
    /// let same = unsafe { &*(again.payload_ptr() as *const AtomicU64) };
    /// assert_eq!(same.load(Ordering::Acquire), 7); // the same shared bytes
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn payload_ptr(&self) -> *mut u8 {
        // SAFETY: the mapping is at least HEADER_SIZE bytes long (checked at create/open).
        unsafe { self.ptr.as_ptr().add(HEADER_SIZE) }
    }

    /// Bytes available after the header.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment, HEADER_SIZE};
    ///
    /// let seg = Segment::create(100, Kind(1))?;
    /// assert_eq!(seg.payload_len(), 128); // the segment is rounded up to 64 bytes
    /// assert_eq!(seg.handle().size, HEADER_SIZE + seg.payload_len());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn payload_len(&self) -> usize {
        self.size - HEADER_SIZE
    }

    /// The segment's fd, for presence locks and for passing to children.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::segment::{Kind, Segment};
    ///
    /// let seg = Segment::create(64, Kind(1))?;
    /// assert!(seg.fd() >= 0);
    /// assert_eq!(seg.fd(), seg.handle().fd);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping starts page-aligned with at least HEADER_SIZE bytes, and the
        // header is made of atomics, valid for any bit pattern.
        unsafe { &*(self.ptr.as_ptr() as *const SegmentHeader) }
    }

    fn init(
        fd: OwnedFd,
        size: usize,
        kind: Kind,
        name: Option<String>,
    ) -> Result<Segment, OpenError> {
        // SAFETY: `fd` is an open, writable file.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } < 0 {
            return Err(OpenError::Io(errno()));
        }
        if name.is_none() {
            // A file shrunk under its mappings makes every process touching the lost pages
            // die of SIGBUS; any process holding the fd could do it. A memfd's size can be
            // sealed for good (a named segment's cannot: see `create_named`).
            let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
            // SAFETY: fcntl on an fd we own; the memfd was created with sealing allowed.
            if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
                return Err(OpenError::Io(errno()));
            }
        }
        let ptr = map(&fd, size)?;
        let seg = Segment {
            ptr,
            size,
            fd,
            unlink_by: if name.is_some() {
                crate::liveness::current_pid()
            } else {
                0
            },
            name,
        };
        let h = seg.header();
        h.magic.store(MAGIC, Ordering::Relaxed);
        h.size.store(size as u64, Ordering::Relaxed);
        h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        h.kind.store(kind.0, Ordering::Relaxed);
        Ok(seg)
    }

    /// Marks the segment fully built, after its payload is initialised.
    pub(crate) fn mark_initialized(&self) {
        // SYNC: publishes the header and the payload's initial state; pairs with the
        // Acquire load in `attach`.
        self.header().init.store(INIT_DONE, Ordering::Release);
    }

    fn attach(fd: OwnedFd, kind: Kind) -> Result<Segment, OpenError> {
        let st = fstat(fd.as_raw_fd()).map_err(OpenError::Io)?;
        let file = usize::try_from(st.st_size).unwrap_or(0);
        if file < HEADER_SIZE {
            return Err(OpenError::TooSmall {
                size: file,
                need: HEADER_SIZE,
            });
        }
        let ptr = map(&fd, file)?;
        let seg = Segment {
            ptr,
            size: file,
            fd,
            name: None,
            unlink_by: 0,
        };
        let h = seg.header();
        // SYNC: pairs with the Release store in `mark_initialized`.
        if h.init.load(Ordering::Acquire) != INIT_DONE {
            return Err(
                if h.magic.load(Ordering::Relaxed) == MAGIC || h.magic.load(Ordering::Relaxed) == 0
                {
                    OpenError::NotInitialized
                } else {
                    OpenError::BadMagic
                },
            );
        }
        if h.magic.load(Ordering::Relaxed) != MAGIC {
            return Err(OpenError::BadMagic);
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(OpenError::VersionMismatch {
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let header_size = h.size.load(Ordering::Relaxed);
        if header_size != file as u64 {
            return Err(OpenError::SizeMismatch {
                header: header_size as usize,
                file,
            });
        }
        let found = h.kind.load(Ordering::Relaxed);
        if found != kind.0 {
            return Err(OpenError::WrongKind {
                found,
                expected: kind.0,
            });
        }
        Ok(seg)
    }
}

fn map(fd: &OwnedFd, size: usize) -> Result<NonNull<u8>, OpenError> {
    // SAFETY: maps `size` bytes of an open file, shared; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(OpenError::Io(errno()));
    }
    NonNull::new(p.cast()).ok_or_else(|| OpenError::Io(io::Error::other("mmap returned null")))
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.unlink_by != 0 && self.unlink_by == crate::liveness::current_pid() {
            let _ = self.unlink();
        }
        // SAFETY: `ptr`/`size` are exactly what mmap returned; nothing borrows the mapping
        // past the segment's lifetime.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.size) };
    }
}

/// 64 random bits from the kernel (`getrandom`), e.g. for unguessable segment names or keys.
///
/// # Examples
///
/// ```
/// let (a, b) = (ipc_core::segment::random_u64()?, ipc_core::segment::random_u64()?);
/// assert_ne!(a, b);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for 8 writable bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), 8, 0) };
    if n != 8 {
        return Err(errno());
    }
    Ok(u64::from_ne_bytes(buf))
}
