//! `Iter`: the items of any queue kind, taken one `get` (or `try_get`) at a time, as
//! crossbeam's `Receiver::iter` / `try_iter`.

use std::fmt;
use std::marker::PhantomData;

use crate::endpoint::Wait;
use crate::error::GetError;

/// The items of a queue, from `iter` (waiting for each, until `Closed`) on a
/// [`Queue`](crate::Queue), [`ByteQueue`](crate::ByteQueue),
/// [`JoinableQueue`](crate::JoinableQueue) or [`SimpleQueue`](crate::SimpleQueue), or from
/// `try_iter` (what is ready now) on the first three. `T` is the item type, as
/// crossbeam's `Iter<'a, T>`; `Q` the queue, a `Queue<T>` unless said.
///
/// Each item is a `Result`: a record that fails validation is an `Err` and the iteration
/// goes on. `Closed` (and `Empty`, for `try_iter`) ends it quietly; any other error is
/// yielded once, then it ends.
///
/// # Examples
///
/// ```
/// use mp_queue::{Iter, Queue};
///
/// let q: Queue<u32> = Queue::new()?;
/// q.put_many([1, 2])?;
/// let ready: Iter<'_, u32> = q.try_iter();
/// assert_eq!(ready.collect::<Result<Vec<_>, _>>()?, [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iter<'a, T, Q = crate::Queue<T>> {
    q: &'a Q,
    wait: Wait,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<'a, T, Q> Iter<'a, T, Q> {
    pub(crate) fn new(q: &'a Q, wait: Wait) -> Self {
        Iter {
            q,
            wait,
            done: false,
            _t: PhantomData,
        }
    }
}

impl<T, Q: fmt::Debug> fmt::Debug for Iter<'_, T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("queue", self.q)
            .field("waits", &matches!(self.wait, Wait::Until(_)))
            .field("done", &self.done)
            .finish()
    }
}

/// A queue an [`Iter`] takes from. Public in a private module: it bounds `Iter`'s
/// `Iterator` impl, and no type outside this crate can implement it.
pub trait Source {
    /// What a `get` on the queue returns.
    type Item;
    /// The queue's `get` waiting as `wait` says (`Wait::No` is its `try_get`).
    #[doc(hidden)]
    fn pull(&self, wait: Wait) -> Result<Self::Item, GetError>;
}

impl<T, Q: Source<Item = T>> Iterator for Iter<'_, T, Q> {
    type Item = Result<T, GetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.q.pull(self.wait) {
            Ok(v) => Some(Ok(v)),
            Err(GetError::Closed) => None,
            Err(GetError::Empty) if matches!(self.wait, Wait::No) => None,
            Err(e @ GetError::Invalid(_)) => Some(Err(e)),
            Err(e) => {
                // Shared memory the queue cannot go on with: said once, then done.
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
