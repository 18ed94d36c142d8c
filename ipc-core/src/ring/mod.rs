//! A multi-producer multi-consumer ring of variable-length byte records in shared memory.
//!
//! [`Ring`] is the shared object; [`Producer`] and [`Consumer`] are handles on it. A record
//! is claimed, written in place and published with no lock held; a reader gets a
//! [`ReadGuard`] that derefs to the payload in shared memory and frees its space on drop.
//! Payloads start 16-byte aligned and carry their exact length.
//!
//! Crash safety: each process registers (pid + start time). A record whose writer died
//! becomes padding; a record whose reader died is released. Waiters re-check liveness every
//! [`POLL`], so nobody waits forever on a dead peer. When every producer handle has closed
//! or died, consumers drain the ring and then get [`PopError::Closed`].
//!
//! The protocol, as a state table, is in `ring/README.md` in the source tree.

mod raw;

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{
    AtomicU32 as StdAtomicU32, AtomicU64 as StdAtomicU64, Ordering as StdOrdering,
};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{OpenError, PopError, PushError};
use crate::liveness::{self, PresenceLock, Role};
use crate::primitive::Ordering;
use crate::segment::{Kind, Segment, SegmentHandle};

use raw::{Hint, Layout, RawRing};

/// How often a sleeping waiter wakes to check whether its peers are still alive.
pub const POLL: Duration = Duration::from_millis(20);

/// Records of at most this many bytes are stored inside their descriptor rather than in
/// the data area, so producer and consumer share one cache line per record. They take no
/// room in the data area (only a place in `maxsize`). A writer that fills such a record in
/// place should prepare it first and copy it in one go: the consumer polls that line.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{Ring, INLINE_MAX};
///
/// // A 64-byte data area still takes eight small records: they live in descriptors.
/// let ring = Ring::builder().capacity(64).maxsize(8).create()?;
/// let (tx, rx) = (ring.producer()?, ring.consumer()?);
/// for i in 0..8u8 {
///     tx.try_push(&[i; INLINE_MAX])?;
/// }
/// assert_eq!(rx.pop()?[0], 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const INLINE_MAX: usize = raw::INLINE;

/// Descriptors a ring keeps beyond its `maxsize` (for wrap paddings and cancelled
/// reservations). A ring has `maxsize + SPARE_DESCRIPTORS` descriptors of 64 bytes,
/// rounded up to a power of two, so a `maxsize` of `2^k - SPARE_DESCRIPTORS` takes half
/// the descriptor memory of one of `2^k`.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{Ring, SPARE_DESCRIPTORS};
///
/// let small = Ring::builder().maxsize(1024 - SPARE_DESCRIPTORS).create()?;
/// let large = Ring::builder().maxsize(1024).create()?;
/// assert_eq!(large.handle().size - small.handle().size, 1024 * 64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SPARE_DESCRIPTORS: usize = raw::SPARE_DESC;

/// The segment kind of a ring.
pub const RING_KIND: Kind = Kind(0x5249_4E47);

const EVER_PRODUCER: u32 = 1;
const EVER_CONSUMER: u32 = 2;
/// Set in `ever` by a process about to publish with light stores (`fence::publish`), so
/// that a sleeper whose own `membarrier` fails knows to nap briefly (`RawRing::light_peers`).
pub(crate) const EVER_LIGHT: u32 = 4;

/// Options for a new ring. Start from [`Ring::builder`].
#[derive(Debug, Clone)]
pub struct RingBuilder {
    capacity: usize,
    maxsize: usize,
    slots: usize,
}

impl Default for RingBuilder {
    fn default() -> Self {
        RingBuilder {
            capacity: 1 << 20,
            maxsize: 8192,
            slots: 128,
        }
    }
}

impl RingBuilder {
    /// Bytes of payload space, rounded up to a power of two, at least 64 (default 1 MiB).
    /// The largest record is this many bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().capacity(1000).create()?;
    /// assert_eq!(ring.capacity(), 1024);
    /// let tx = ring.producer()?;
    /// assert_eq!(tx.try_push(&[0; 1025]), Err(PushError::TooLarge { len: 1025, max: 1024 }));
    /// assert!(Ring::builder().capacity(0).create().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Most records in the ring at once, Python's `maxsize` (default 8192).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().maxsize(2).create()?;
    /// let tx = ring.producer()?;
    /// tx.push(b"one")?;
    /// tx.push(b"two")?;
    /// assert_eq!(tx.try_push(b"three"), Err(PushError::Full));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(mut self, records: usize) -> Self {
        self.maxsize = records;
        self
    }

    /// Most processes using the ring at once (default 128). Slots of dead processes are
    /// reused.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// let ring = Ring::builder().slots(4).create()?; // this process and three children
    /// ring.producer()?.push(b"registered")?; // the first push or pop takes a slot
    /// assert!(Ring::builder().slots(0).create().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slots(mut self, processes: usize) -> Self {
        self.slots = processes;
        self
    }

    /// Creates a nameless ring: it reaches children by `fork` or by [`Ring::handle`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// let ring = Ring::builder().capacity(4096).maxsize(16).create()?;
    /// assert_eq!((ring.capacity(), ring.maxsize()), (4096, 16));
    /// assert_eq!(ring.name(), None);
    /// assert!(Ring::builder().maxsize(0).create().is_err()); // out of range
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(self) -> Result<Ring, OpenError> {
        let lay = Layout::new(self.capacity, self.maxsize, self.slots)?;
        Ring::build(Segment::create_unpublished(lay.total, RING_KIND)?, lay)
    }

    /// Creates a ring that unrelated programs open with [`Ring::open_named`]. The name is
    /// `/{prefix}-{random}`; it is removed when this `Ring` (the creator's) is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// let ring = Ring::builder().capacity(4096).create_named("doc-ring")?;
    /// let name = ring.name().expect("named").to_owned();
    /// assert!(name.starts_with("/doc-ring-"));
    /// let other = Ring::open_named(&name)?; // e.g. in an unrelated program
    /// ring.producer()?.push(b"hi")?;
    /// assert_eq!(&*other.consumer()?.pop()?, b"hi");
    /// drop((ring, other)); // the creator's drop removes the name
    /// assert!(Ring::open_named(&name).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(self, prefix: &str) -> Result<Ring, OpenError> {
        let lay = Layout::new(self.capacity, self.maxsize, self.slots)?;
        Ring::build(
            Segment::create_named_unpublished(prefix, lay.total, RING_KIND)?,
            lay,
        )
    }
}

struct Shared {
    raw: RawRing,
    /// An open file description holding no locks, used to ask who holds presence locks.
    probe: OwnedFd,
    /// `pid:32 | slot:32` of this process's registration (0: none).
    me: StdAtomicU64,
    /// Producer and consumer presence this process held for the ring since it was started
    /// with it (see [`hold_inherited`]), until it takes each role or calls
    /// [`Ring::release_inherited`]; released already in most rings.
    inherited: [PresenceLock; 2],
    seg: Segment,
}

/// One of [`Ring::user_words`]: an `AtomicU32` in shared memory.
pub type UserWord = crate::primitive::AtomicU32;

/// A shared ring. Cloning is cheap and shares the mapping.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::Ring;
///
/// let ring = Ring::builder().capacity(64 * 1024).create()?;
/// let (tx, rx) = (ring.producer()?, ring.consumer()?);
/// tx.push(b"hello")?;
/// assert_eq!(&*rx.pop()?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Ring {
    shared: Arc<Shared>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("segment", &self.shared.seg)
            .field("capacity", &self.capacity())
            .field("maxsize", &self.maxsize())
            .field("len", &self.len())
            .finish()
    }
}

impl Ring {
    /// Options for a new ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// let ring = Ring::builder().create()?; // the defaults
    /// assert_eq!((ring.capacity(), ring.maxsize()), (1 << 20, 8192));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> RingBuilder {
        RingBuilder::default()
    }

    fn build(seg: Segment, lay: Layout) -> Result<Ring, OpenError> {
        let base = std::ptr::NonNull::new(seg.payload_ptr())
            .ok_or(OpenError::InvalidConfig("null segment"))?;
        // SAFETY: the segment's payload is 64-byte aligned, at least `lay.total` bytes, and
        // nobody else can see the segment before `mark_initialized`.
        let raw = unsafe { RawRing::init(base, lay) };
        seg.mark_initialized();
        Self::wrap(seg, raw)
    }

    /// Attaches, adopting the presence this process held for the ring since it was
    /// started with it, if it was (see [`hold_inherited`]), until it takes a role.
    fn attach(seg: Segment) -> Result<Ring, OpenError> {
        let base = std::ptr::NonNull::new(seg.payload_ptr())
            .ok_or(OpenError::InvalidConfig("null segment"))?;
        // SAFETY: the payload is 64-byte aligned and `payload_len` bytes long, mapped for
        // as long as `seg`, which `Shared` keeps beside the `RawRing`.
        let raw = unsafe { RawRing::attach(base, seg.payload_len())? };
        let ring = Self::wrap(seg, raw)?;
        // Last: an attach that failed leaves the presence where it was, for a retry.
        if let Some(roles) = inherit::take(ring.shared.seg.fd()) {
            for (mine, held) in ring.shared.inherited.iter().zip(roles) {
                mine.replace(held);
            }
        }
        Ok(ring)
    }

    fn wrap(seg: Segment, raw: RawRing) -> Result<Ring, OpenError> {
        let probe = liveness::reopen(seg.fd())?;
        Ok(Ring {
            shared: Arc::new(Shared {
                raw,
                probe,
                me: StdAtomicU64::new(0),
                inherited: [PresenceLock::none(), PresenceLock::none()],
                seg,
            }),
        })
    }

    /// Opens a ring another program created with [`RingBuilder::create_named`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    /// use ipc_core::sync::Lock;
    /// use ipc_core::OpenError;
    ///
    /// let ring = Ring::builder().capacity(4096).create_named("doc-ring")?;
    /// let other = Ring::open_named(ring.name().expect("named"))?;
    /// assert_eq!(other.capacity(), 4096);
    /// let lock = Lock::create_named("doc-not-a-ring")?;
    /// let wrong = Ring::open_named(lock.name().expect("named"));
    /// assert!(matches!(wrong, Err(OpenError::WrongKind { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_named(name: &str) -> Result<Ring, OpenError> {
        Self::attach(Segment::open_named(name, RING_KIND)?)
    }

    /// Attaches from a handle passed to a spawned child (see [`Ring::handle`]). In a child
    /// started with the ring's fd by a starter that called [`hold_inherited`] (mp-process
    /// does), the ring keeps the presence the child held since its start until this
    /// handle takes its first role ([`producer`](Self::producer) or
    /// [`consumer`](Self::consumer)) or calls
    /// [`release_inherited`](Self::release_inherited). A handle taking both roles takes
    /// the second a moment after the first, when the inherited presence is gone: no peer
    /// of a queue or pipe looks at that moment (queues never ask for consumers; pipe ends
    /// take one role per ring).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    /// use ipc_core::segment::{Kind, Segment};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let child_side = Ring::from_handle(ring.handle())?; // as a spawned child would
    /// ring.producer()?.push(b"hi")?;
    /// assert_eq!(&*child_side.consumer()?.pop()?, b"hi");
    /// let not_a_ring = Segment::create(4096, Kind(1))?;
    /// assert!(Ring::from_handle(not_a_ring.handle()).is_err()); // another kind
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<Ring, OpenError> {
        Self::attach(Segment::from_handle(handle, RING_KIND)?)
    }

    /// Lets go of the presence this process held for the ring since it was started with
    /// it (see [`hold_inherited`]), which attaching adopted. Taking a role
    /// ([`producer`](Self::producer), [`consumer`](Self::consumer)) does this already;
    /// this is for a handle that attaches and takes none. Does nothing for a ring this
    /// process was not started with.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::{hold_inherited, Ring};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// drop(ring.producer()?); // a producer came and went
    /// assert!(hold_inherited(ring.handle().fd)); // as in a child started with the ring
    /// let mine = Ring::from_handle(ring.handle())?; // adopts what the start held
    /// assert!(mine.producers_present()); // held as a producer (and consumer), until:
    /// mine.release_inherited();
    /// assert!(!mine.producers_present());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_inherited(&self) {
        for presence in &self.shared.inherited {
            presence.release();
        }
    }

    /// The fd and size a spawned child needs for [`Ring::from_handle`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    /// use ipc_core::segment::SegmentHandle;
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let arg = ring.handle().to_string(); // "fd:size", passed to the child
    /// let handle: SegmentHandle = arg.parse()?; // in the child, which inherited the fd
    /// assert_eq!(Ring::from_handle(handle)?.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.shared.seg.handle()
    }

    /// The name of a named ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// assert_eq!(Ring::builder().capacity(4096).create()?.name(), None);
    /// let named = Ring::builder().capacity(4096).create_named("doc-ring")?;
    /// assert!(named.name().is_some_and(|n| n.starts_with("/doc-ring-")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.shared.seg.name()
    }

    /// A new producer handle. Consumers see [`PopError::Closed`] once every producer handle
    /// in every process is dropped (or its process died) and the ring is drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PopError};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let rx = ring.consumer()?;
    /// let (a, b) = (ring.producer()?, ring.producer()?);
    /// a.push(b"from a")?;
    /// drop(a);
    /// assert_eq!(&*rx.pop()?, b"from a");
    /// assert_eq!(rx.try_pop().unwrap_err(), PopError::Empty); // `b` is still open
    /// drop(b);
    /// assert_eq!(rx.try_pop().unwrap_err(), PopError::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer(&self) -> Result<Producer, OpenError> {
        let presence = PresenceLock::acquire(self.shared.seg.fd(), Role::Producer)?;
        self.release_inherited();
        self.shared
            .raw
            .ever()
            .fetch_or(EVER_PRODUCER, Ordering::SeqCst);
        Ok(Producer {
            ring: self.clone(),
            presence,
            hint: Hint::default(),
        })
    }

    /// A new consumer handle. A producer blocked on a full ring gets [`PushError::Closed`]
    /// once every consumer handle is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    /// use std::time::Duration;
    ///
    /// let ring = Ring::builder().maxsize(1).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"fills the ring")?;
    /// assert_eq!(tx.push_timeout(b"waits", Duration::from_millis(10)), Err(PushError::Timeout));
    /// drop(rx);
    /// assert_eq!(tx.push(b"would wait for good"), Err(PushError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumer(&self) -> Result<Consumer, OpenError> {
        let presence = PresenceLock::acquire(self.shared.seg.fd(), Role::Consumer)?;
        self.release_inherited();
        self.shared
            .raw
            .ever()
            .fetch_or(EVER_CONSUMER, Ordering::SeqCst);
        Ok(Consumer {
            ring: self.clone(),
            presence,
            seen_producers: PresenceCache::new(),
            hits: StdAtomicU32::new(0),
            hint: Hint::default(),
        })
    }

    /// Sixteen zero-initialised words in the ring's segment for the layer above: a queue
    /// keeps its flavour tag and task counts here, so one segment (one fd, one name) carries
    /// everything. The ring itself never reads them, so treat their contents as untrusted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ipc_core::ring::Ring;
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// ring.user_words()[0].store(7, Ordering::Release);
    /// let same = Ring::from_handle(ring.handle())?;
    /// assert_eq!(same.user_words()[0].load(Ordering::Acquire), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_words(&self) -> &[UserWord; raw::USER_WORDS] {
        self.shared.raw.user()
    }

    /// This process's own word in the ring, for the layer above: zero when the process
    /// first uses the ring, and never read by the ring. A joinable queue counts there the
    /// tasks this process holds (took and has not settled, or is putting), so that a
    /// process that dies holding tasks does not leave `join` waiting for good. After the
    /// process dies, its word is handed on once by
    /// [`adopt_dead_words`](Self::adopt_dead_words), even if a new process has reused its
    /// slot by then. Fails as a push would when this process
    /// cannot register with the ring (every slot held by a live process, or corrupted
    /// state).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ipc_core::ring::Ring;
    /// use ipc_core::testing::{fork, reap};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let child = fork(|| {
    ///     ring.process_word().unwrap().fetch_add(3, Ordering::SeqCst);
    ///     0 // exits with 3 in its word
    /// });
    /// assert_eq!(reap(child), Ok(0));
    /// let mine = ring.process_word()?;
    /// mine.fetch_add(1, Ordering::SeqCst); // alive: not handed on
    /// assert_eq!(ring.adopt_dead_words()?, 3);
    /// assert_eq!(mine.load(Ordering::SeqCst), 4, "the child's 3 now count here");
    /// mine.fetch_sub(3, Ordering::SeqCst); // settled: taken back out
    /// assert_eq!(ring.adopt_dead_words()?, 0, "once");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn process_word(&self) -> Result<&UserWord, PushError> {
        let me = self.me()?;
        Ok(&self
            .raw()
            .slot(me)
            .expect("me() returns a slot index in range")
            .user)
    }

    /// Moves the [`process_word`](Self::process_word)s of processes that died into this
    /// process's own word, and returns how much it moved. The caller settles that much
    /// (a joinable queue: tasks lost with their process), then takes it back out of its
    /// own word. A value is always counted somewhere, so that a process killed at any
    /// point leaves it to be adopted again after its own death: at worst settled twice,
    /// never lost.
    ///
    /// On the way, the slots of the dead processes it finds with a non-zero word are
    /// reclaimed as a registering process would: their records settled and their words
    /// moved to the ring's orphans, then freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ipc_core::ring::Ring;
    /// use ipc_core::testing::{fork, reap};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// assert_eq!(ring.adopt_dead_words()?, 0); // nobody died
    /// let child = fork(|| {
    ///     ring.process_word().unwrap().store(2, Ordering::SeqCst);
    ///     0 // dies holding 2
    /// });
    /// assert_eq!(reap(child), Ok(0));
    /// assert_eq!(ring.adopt_dead_words()?, 2);
    /// assert_eq!(ring.process_word()?.load(Ordering::SeqCst), 2); // now counted here
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt_dead_words(&self) -> Result<u32, PushError> {
        let mine = self.process_word()?;
        let raw = self.raw();
        let me = liveness::my_owner_word();
        for i in 0..raw.layout().slots {
            let Some(s) = raw.slot(i) else { break };
            if s.user.load(Ordering::SeqCst) == 0 {
                continue;
            }
            // SYNC: slot ids, as in `register`.
            let w = s.id.load(Ordering::Acquire);
            if w == 0 || w == me || liveness::owner_alive(w & !RECLAIMING) {
                continue;
            }
            if s.id
                .compare_exchange(w, me | RECLAIMING, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let end = if self.settle_slot(i).is_ok() { 0 } else { w };
            s.id.store(end, Ordering::Release);
        }
        let orphans = raw.orphaned();
        // SYNC: SeqCst throughout: the value is in our word before it leaves the orphans
        // (counted twice in between, never nowhere).
        loop {
            let o = orphans.load(Ordering::SeqCst);
            let room = u32::MAX - mine.load(Ordering::SeqCst);
            let o = o.min(room);
            if o == 0 {
                return Ok(0);
            }
            mine.fetch_add(o, Ordering::SeqCst);
            if orphans
                .compare_exchange(o, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok(o);
            }
            mine.fetch_sub(o, Ordering::SeqCst);
        }
    }

    /// True while some producer handle is open in some process (or none was ever opened).
    /// One system call: for "is my peer gone?" checks, not for hot loops.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// assert!(ring.producers_present()); // none opened yet
    /// let tx = ring.producer()?;
    /// assert!(ring.producers_present());
    /// drop(tx);
    /// assert!(!ring.producers_present());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producers_present(&self) -> bool {
        self.peers_present(Role::Producer)
    }

    /// True while some consumer handle is open in some process (or none was ever opened).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// assert!(ring.consumers_present()); // none opened yet
    /// let rx = ring.consumer()?;
    /// assert!(ring.consumers_present());
    /// rx.close();
    /// assert!(!ring.consumers_present());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumers_present(&self) -> bool {
        self.peers_present(Role::Consumer)
    }

    /// How many handles have been closed (dropped) so far, in every process: a cheap way to
    /// notice that a peer may have gone, before asking [`Ring::consumers_present`]. A
    /// process that dies without dropping its handles does not count here.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// assert_eq!(ring.close_count(), 0);
    /// drop(ring.producer()?);
    /// let rx = ring.consumer()?;
    /// rx.close();
    /// drop(rx); // closed once, counted once
    /// assert_eq!(ring.close_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_count(&self) -> u32 {
        self.raw().closes().load(Ordering::Acquire)
    }

    /// Records in the ring (published or being written, not yet taken).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"one")?;
    /// let slot = tx.try_reserve(3)?; // being written: counted too
    /// assert_eq!(ring.len(), 2);
    /// slot.commit();
    /// drop(rx.pop()?);
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shared.raw.len()
    }

    /// True when the ring holds no record, ready or still being written.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().capacity(4096).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// assert!(ring.is_empty());
    /// tx.push(b"one")?;
    /// assert!(!ring.is_empty());
    /// drop(rx.pop()?);
    /// assert!(ring.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the ring holds `maxsize` records (or their space is not yet released).
    ///
    /// Consumers move the ring's free cursor only every few records, so when the ring
    /// looks full this moves it over the records taken since (and wakes producers waiting
    /// for room): a record taken is room at once. A corrupted ring reads as full; the next
    /// push reports the corruption.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipc_core::ring::Ring::builder().maxsize(2).create()?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push(b"one")?;
    /// assert!(!ring.is_full());
    /// tx.push(b"two")?;
    /// assert!(ring.is_full());
    /// drop(rx.pop()?);
    /// assert!(!ring.is_full()); // a record taken is room at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_full(&self) -> bool {
        let raw = &self.shared.raw;
        if !raw.is_full() {
            return false;
        }
        if raw.advance_free().is_err() {
            return true;
        }
        raw.is_full()
    }

    /// Payload capacity in bytes: also the largest record.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ring::Ring, PushError};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// assert_eq!(ring.capacity(), 4096);
    /// let tx = ring.producer()?;
    /// tx.push(&[0; 4096])?; // the largest record
    /// assert!(matches!(tx.try_push(&[0; 4097]), Err(PushError::TooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.shared.raw.layout().capacity()
    }

    /// Most records at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::Ring;
    ///
    /// assert_eq!(Ring::builder().maxsize(100).create()?.maxsize(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.raw.layout().maxsize as usize
    }

    #[inline]
    fn raw(&self) -> &RawRing {
        &self.shared.raw
    }

    /// This process's participant slot, registering after start-up or a fork.
    #[inline]
    fn me(&self) -> Result<u32, RegisterError> {
        let pid = liveness::current_pid();
        let cached = self.shared.me.load(StdOrdering::Relaxed);
        if cached != 0 && (cached >> 32) as u32 == pid {
            return Ok(cached as u32);
        }
        self.me_register(pid)
    }

    #[cold]
    fn me_register(&self, pid: u32) -> Result<u32, RegisterError> {
        if crate::fence::register() {
            // SYNC: SeqCst RMW before this process's first light store; a sleeper reads
            // the bit after its registration fence, so either it sees the bit, or this
            // process's later read of the waiter count sees the sleeper.
            self.raw().ever().fetch_or(EVER_LIGHT, Ordering::SeqCst);
        }
        let slot = self.register()?;
        self.shared
            .me
            .store((pid as u64) << 32 | slot as u64, StdOrdering::Relaxed);
        Ok(slot)
    }

    /// Takes a participant slot: a free one, or, on a second pass, one whose process
    /// (or whose reclaimer) died, which it reclaims first. A slot's `id` is one word, the
    /// owner word of the sync primitives (pid and start time), so taking, reclaiming and
    /// freeing each change it with one CAS from exactly the value seen. One thread of a
    /// process registers at a time, or two threads could take two slots.
    fn register(&self) -> Result<u32, RegisterError> {
        let _one = RegisterLock::take();
        let me = liveness::my_owner_word();
        if me >> 32 == 0 {
            // No start time (`/proc` unreadable): a pid alone could name a later process.
            return Err(RegisterError::Full);
        }
        let raw = self.raw();
        let n = raw.layout().slots;
        let slots = (0..n).filter_map(|i| raw.slot(i).map(|s| (i, s)));
        // SYNC: a slot's `id` changes by AcqRel CAS (take, start reclaiming) and Release
        // store (done reclaiming, put back); the Acquire loads here, in `owner_alive` and
        // in `adopt_dead_words` pair with them, so whoever sees an id also sees what its
        // writer did before: the dead owner's records settled, its `user` word moved.
        for (i, s) in slots.clone() {
            if s.id.load(Ordering::Acquire) == me {
                return Ok(i);
            }
        }
        // A slot a live process is reclaiming is free again in a moment: look again a
        // few times before answering "full".
        for _ in 0..REGISTER_ROUNDS {
            let mut reclaiming = false;
            for pass in 0..2 {
                for (i, s) in slots.clone() {
                    let w = s.id.load(Ordering::Acquire);
                    if w == 0 {
                        if s.id
                            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        {
                            return Ok(i);
                        }
                        continue;
                    }
                    if pass == 0 {
                        continue;
                    }
                    if liveness::owner_alive(w & !RECLAIMING) {
                        reclaiming |= w & RECLAIMING != 0;
                        continue;
                    }
                    // Its process died (or the process reclaiming it did): hold the slot
                    // while settling it, so that no new process can own records under its
                    // index while the dead owner's are being settled; then keep it.
                    if s.id
                        .compare_exchange(w, me | RECLAIMING, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    if let Err(e) = self.settle_slot(i) {
                        // Nothing moved yet (`settle_slot` fails before the word): put the
                        // slot back as it was, for the error to be seen again.
                        s.id.store(w, Ordering::Release);
                        return Err(RegisterError::Corrupted(e));
                    }
                    s.id.store(me, Ordering::Release);
                    return Ok(i);
                }
            }
            if !reclaiming {
                break;
            }
            std::thread::yield_now();
        }
        Err(RegisterError::Full)
    }

    /// Settles slot `i`, which this process holds as its reclaimer: the dead owner's
    /// records, then its word, moved to the orphans.
    fn settle_slot(&self, i: u32) -> Result<(), crate::Corrupted> {
        self.recover_owner(i)?;
        let raw = self.raw();
        let Some(s) = raw.slot(i) else {
            return Ok(());
        };
        // Added to the orphans before it is cleared: a reclaimer killed in between has its
        // successor add it again (a task settled early), rather than lose it (a join that
        // waits for good).
        // SYNC: SeqCst, as in `adopt_dead_words`.
        let word = s.user.load(Ordering::SeqCst);
        if word != 0 {
            let _ = raw
                .orphaned()
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                    Some(o.saturating_add(word))
                });
            s.user.store(0, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Settles every in-flight record owned by the dead participant `owner`.
    fn recover_owner(&self, owner: u32) -> Result<(), crate::Corrupted> {
        let raw = self.raw();
        let mut held = Vec::new();
        raw.owned_by(owner, |seq, w| held.push((seq, w)));
        for (seq, w) in held {
            if raw::state_of(w) == raw::WRITING {
                raw.abandon_write(seq, w)?;
            } else {
                raw.abandon_read(seq, w)?;
            }
        }
        Ok(())
    }

    /// Whether the process that owns records under slot index `owner` still runs. A
    /// slot being reclaimed answers no: its records are the dead owner's.
    fn owner_alive(&self, owner: u32) -> bool {
        let Some(s) = self.raw().slot(owner) else {
            return false; // no such slot: the record is corrupt, settle it
        };
        // SYNC: slot ids, as in `register`.
        let w = s.id.load(Ordering::Acquire);
        w != 0 && w & RECLAIMING == 0 && liveness::owner_alive(w)
    }

    /// True if some handle of `role` may still act: one is open, or none was ever opened.
    pub(super) fn peers_present(&self, role: Role) -> bool {
        let bit = if role == Role::Producer {
            EVER_PRODUCER
        } else {
            EVER_CONSUMER
        };
        if self.raw().ever().load(Ordering::SeqCst) & bit == 0 {
            return true;
        }
        liveness::anyone_present(self.shared.probe.as_raw_fd(), role).unwrap_or(true)
    }
}

/// One thread of a process registers at a time. Not a `Mutex`: a fork while another
/// thread registers would leave the child a mutex locked for good. The lock holds the
/// holder's pid instead, and a child finding its parent's pid there takes it over (the
/// thread that held it does not exist in the child).
struct RegisterLock;

static REGISTER_LOCK: StdAtomicU32 = StdAtomicU32::new(0);

impl RegisterLock {
    fn take() -> RegisterLock {
        let pid = liveness::current_pid();
        loop {
            // SYNC: the Acquire load and CAS pair with the Release store in `drop`: the
            // next registrar of this process sees the slot the previous one took.
            let held = REGISTER_LOCK.load(StdOrdering::Acquire);
            // Free (0), or inherited across a fork (another pid): ours to take.
            if held != pid
                && REGISTER_LOCK
                    .compare_exchange(held, pid, StdOrdering::Acquire, StdOrdering::Relaxed)
                    .is_ok()
            {
                return RegisterLock;
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for RegisterLock {
    fn drop(&mut self) {
        REGISTER_LOCK.store(0, StdOrdering::Release);
    }
}

/// How many times `register` looks again while a live process holds a slot to reclaim it.
const REGISTER_ROUNDS: u32 = 100;

/// A slot's `id` while a process reclaims it: the reclaimer's owner word with this bit
/// (owner words keep a pid, below 2^22, in their low 32 bits).
const RECLAIMING: u64 = 1 << 31;

/// Why a process could not take a participant slot.
#[derive(Debug)]
enum RegisterError {
    /// Every slot is held by a live process (or this process cannot read its own start
    /// time in `/proc/self/stat`, which leaves it no identity a later process could not
    /// share).
    Full,
    /// Settling a dead participant's records found corrupted state.
    Corrupted(crate::Corrupted),
}

impl From<RegisterError> for PushError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Full => PushError::TooManyProcesses,
            RegisterError::Corrupted(c) => PushError::Corrupted(c),
        }
    }
}
impl From<RegisterError> for PopError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Full => PopError::TooManyProcesses,
            RegisterError::Corrupted(c) => PopError::Corrupted(c),
        }
    }
}

mod handles;
mod inherit;
mod presence;
pub use handles::{Consumer, Producer, ReadGuard, WriteSlot};
pub(crate) use inherit::{after_fork_child, after_fork_parent, before_fork};
pub use inherit::{hold_inherited, release_all_inherited, MAX_INHERITED};
pub use presence::{PresenceCache, PRESENCE_TTL_MS};

/// `Ring`, `Producer`, `Consumer` and `ReadGuard` may be shared between threads (a guard
/// within the lifetime of the consumer it borrows).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Ring>();
    send_sync::<Producer>();
    send_sync::<Consumer>();
    send_sync::<ReadGuard<'static>>();
};
