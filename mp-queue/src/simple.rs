//! `SimpleQueue`: the minimal queue (Python's `multiprocessing.SimpleQueue`), a `Queue`
//! with only `put`, `get`, `empty` and `close`.

use std::fmt;

use ipc_core::ring::Ring;
use ipc_core::segment::SegmentHandle;

use crate::endpoint::Wait;
use crate::error::{Error, GetError, PutError};
use crate::iter::{Iter, Source};
use crate::message::Message;
use crate::queue::{Queue, QueueBuilder, TAG_QUEUE};

/// The minimal queue: `put`, `get`, `empty`, `close`. Python's
/// `multiprocessing.SimpleQueue`.
///
/// # Examples
///
/// ```
/// use mp_queue::SimpleQueue;
///
/// let q: SimpleQueue<(u8, String)> = SimpleQueue::new()?;
/// q.put((1, "one".into()))?;
/// assert!(!q.empty());
/// assert_eq!(q.get()?, (1, "one".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    q: Queue<T>,
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("queue", &self.q)
            .finish()
    }
}

impl<T: Message> Clone for SimpleQueue<T> {
    /// Another handle on the same queue, as [`Queue`'s `clone`](Queue::clone): panics if
    /// the process is out of file descriptors or cannot take a slot; use
    /// [`try_clone`](Self::try_clone) to handle that.
    fn clone(&self) -> Self {
        SimpleQueue { q: self.q.clone() }
    }
}

impl<T: Message> SimpleQueue<T> {
    /// A simple queue with the default options.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<String> = SimpleQueue::new()?;
    /// q.put("hi".to_string())?;
    /// assert_eq!(q.get()?, "hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Ok(SimpleQueue { q: Queue::new()? })
    }

    /// A simple queue with `builder`'s options (a larger capacity for large messages,
    /// say), named when `prefix` is given, as [`JoinableQueue::with`](crate::JoinableQueue::with).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{Queue, SimpleQueue};
    ///
    /// let q: SimpleQueue<Vec<u8>> = SimpleQueue::with(Queue::builder().capacity(4 << 20), None)?;
    /// q.put(vec![7; 2 << 20])?; // 2 MiB: more than the default 1 MiB holds
    /// assert_eq!(q.get()?.len(), 2 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with(builder: QueueBuilder, prefix: Option<&str>) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: Queue::tagged(builder.create_ring(prefix)?, TAG_QUEUE)?,
        })
    }

    /// Attaches from a handle in a spawned child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// let text = q.handle().to_string(); // "fd:size", for a spawned child
    /// // In the child, which inherited the fd (here, the same process):
    /// let child_side: SimpleQueue<u32> = SimpleQueue::from_handle(text.parse()?)?;
    /// child_side.put(3)?;
    /// assert_eq!(q.get()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_handle(handle: SegmentHandle) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: Queue::attach(Ring::from_handle(handle)?, TAG_QUEUE)?,
        })
    }

    /// A simple queue that unrelated programs open by [`name`](Self::name) with
    /// [`SimpleQueue::open`] (see [`QueueBuilder::create_named`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::create_named("doc-simple")?;
    /// let other: SimpleQueue<u32> = SimpleQueue::open(q.name().unwrap())?; // in another program
    /// other.put(3)?;
    /// assert_eq!(q.get()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(prefix: &str) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: QueueBuilder::default().create_named(prefix)?,
        })
    }

    /// Opens a named simple queue (or a named [`Queue`] of the same `T`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{Queue, SimpleQueue};
    ///
    /// let q: Queue<u32> = Queue::builder().create_named("doc-simple-open")?;
    /// let s: SimpleQueue<u32> = SimpleQueue::open(q.name().unwrap())?;
    /// q.put(1)?;
    /// assert_eq!(s.get()?, 1);
    /// assert!(SimpleQueue::<u32>::open("/no-such-queue").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: Queue::open(name)?,
        })
    }

    /// Another handle on the same queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// let writer = q.try_clone()?; // a writer of its own
    /// q.close();
    /// writer.put(1)?;
    /// drop(writer); // the last writer
    /// assert_eq!(q.get()?, 1);
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(SimpleQueue {
            q: self.q.try_clone()?,
        })
    }

    /// Puts `value`, waiting for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{PutError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// q.put(1)?;
    /// q.close();
    /// assert_eq!(q.put(2), Err(PutError::Closed(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.q.put(value)
    }

    /// Takes the next item, waiting; [`GetError::Closed`] once drained with no writer left.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// q.put(1)?;
    /// q.close(); // the only writer
    /// assert_eq!(q.get()?, 1);
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.q.get()
    }

    /// Takes items as they come, waiting for each, until the queue is drained and no
    /// writer is left, as [`Queue::iter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// q.close(); // the only writer
    /// let got: Vec<u32> = q.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(got, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T, Self> {
        Iter::new(self, Wait::Until(None))
    }
}

impl<T: Message> Source for SimpleQueue<T> {
    type Item = T;
    fn pull(&self, wait: Wait) -> Result<T, GetError> {
        self.q.pull(wait)
    }
}

impl<'a, T: Message> IntoIterator for &'a SimpleQueue<T> {
    type Item = Result<T, GetError>;
    type IntoIter = Iter<'a, T, SimpleQueue<T>>;

    /// [`SimpleQueue::iter`].
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> SimpleQueue<T> {
    /// True when no item is in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// The name of a named queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::create_named("doc-simple-name")?;
    /// assert!(q.name().unwrap().starts_with("/doc-simple-name-"));
    /// assert_eq!(SimpleQueue::<u32>::new()?.name(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.q.name()
    }

    /// Ends putting through this handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::{GetError, PutError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// q.put(1)?;
    /// q.close();
    /// assert_eq!(q.put(2), Err(PutError::Closed(2)));
    /// assert_eq!(q.get()?, 1); // this handle can still get
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.q.close();
    }

    /// The handle for a spawned child.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp_queue::SimpleQueue;
    ///
    /// let q: SimpleQueue<u32> = SimpleQueue::new()?;
    /// let h = q.handle();
    /// assert_eq!(h.to_string(), format!("{}:{}", h.fd, h.size));
    /// let same: SimpleQueue<u32> = SimpleQueue::from_handle(h)?; // as a spawned child does
    /// same.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> SegmentHandle {
        self.q.handle()
    }
}
