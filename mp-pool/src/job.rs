//! A submitted call (`apply_async`, `map_async`, `imap`, ...) as the pool sees it: chunks
//! to write into worker rings and results to deliver, with the item types erased.

use std::sync::Arc;

use mp_queue::{ByteQueue, Message, PutError};
use parking_lot::Mutex;
use rkyv::rancor;

use crate::error::TaskError;
use crate::result::Store;
use crate::task::{SliceArgs, Trampoline};

/// What the pool needs from a call, whatever its argument and result types.
pub(crate) trait Job: Send + Sync {
    /// Writes chunk `index` (its header, then its items) into `ring`, without waiting.
    fn write(&self, index: u32, header: &[u8], ring: &ByteQueue) -> Result<(), PutError<()>>;
    /// The trampoline and function, as offsets.
    fn code(&self) -> (u64, u64);
    /// Delivers chunk `index`'s result archive (`Vec<Result<R, String>>`).
    fn deliver(&self, index: u32, archive: &[u8]);
    /// Fails every item of chunk `index`.
    fn fail(&self, index: u32, e: TaskError);
    /// Fails every item not yet done.
    fn fail_rest(&self, e: &TaskError);
}

/// `items` cut into chunks of `chunksize`, each run by `tramp` with `func` in a worker.
pub(crate) struct ItemsJob<A, R> {
    items: Mutex<Vec<A>>,
    len: usize,
    chunksize: usize,
    tramp: u64,
    func: u64,
    pub(crate) store: Arc<Store<R>>,
}

impl<A, R> ItemsJob<A, R> {
    pub(crate) fn new(
        items: Vec<A>,
        chunksize: usize,
        tramp: Trampoline,
        func: usize,
        store: Arc<Store<R>>,
    ) -> ItemsJob<A, R> {
        ItemsJob {
            len: items.len(),
            items: Mutex::new(items),
            chunksize: chunksize.max(1),
            tramp: mp_process::code::offset_of(tramp as usize),
            func: mp_process::code::offset_of(func),
            store,
        }
    }

    fn range(&self, index: u32) -> std::ops::Range<usize> {
        let start = index as usize * self.chunksize;
        start..(start + self.chunksize).min(self.len)
    }
}

impl<A, R> Job for ItemsJob<A, R>
where
    A: Message + Send + 'static,
    R: Message + Send + 'static,
{
    fn write(&self, index: u32, header: &[u8], ring: &ByteQueue) -> Result<(), PutError<()>> {
        let items = self.items.lock();
        ring.try_put_framed(header, &SliceArgs(&items[self.range(index)]))
    }

    fn code(&self) -> (u64, u64) {
        (self.tramp, self.func)
    }

    fn deliver(&self, index: u32, archive: &[u8]) {
        let range = self.range(index);
        let decoded = mp_queue::access::<Vec<Result<R, String>>>(archive)
            .and_then(rkyv::deserialize::<Vec<Result<R, String>>, rancor::Error>);
        match decoded {
            Ok(v) if v.len() == range.len() => self.store.fill(
                range.start,
                v.into_iter()
                    .map(|r| r.map_err(TaskError::Panicked))
                    .collect(),
            ),
            Ok(v) => self.fail(
                index,
                TaskError::Failed(format!(
                    "{} results for a chunk of {}",
                    v.len(),
                    range.len()
                )),
            ),
            Err(e) => self.fail(
                index,
                TaskError::Failed(format!("result failed validation: {e}")),
            ),
        }
    }

    fn fail(&self, index: u32, e: TaskError) {
        let range = self.range(index);
        self.store
            .fill(range.start, range.map(|_| Err(e.clone())).collect());
    }

    fn fail_rest(&self, e: &TaskError) {
        self.store.fail_rest(e);
    }
}
