//! A progress line on stderr for reads that take a while: shown only when stderr is a terminal
//! and only after the first second (a quick answer prints nothing extra), updated ten times a
//! second with the items read so far, and erased before the answer is printed. A hand-written
//! line rather than a progress-bar crate: one line of text is all it draws.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autopilot_core::ports::{CapacityStore, ItemQuery, Page, StoreError};
use autopilot_core::record::{ClusterEntry, Outcome, Record, RecordKey, WriteCondition};

/// Shown after this long.
const DELAY: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A running progress line; dropping it erases the line.
pub struct Progress {
    items: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts the line `label` (e.g. `reading capacity table capacity`) when stderr is a
    /// terminal; otherwise a counter that draws nothing.
    pub fn start(label: impl Into<String>) -> Progress {
        let items = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (items, done, label) = (items.clone(), done.clone(), label.into());
            std::thread::spawn(move || draw(&label, &items, &done))
        });
        Progress {
            items,
            done,
            thread,
        }
    }

    /// The shared counter of items read so far.
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.items.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Wakes it now rather than at its next tick: a quick answer is not held back.
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn draw(label: &str, items: &AtomicUsize, done: &AtomicBool) {
    let started = Instant::now();
    let mut shown = false;
    let mut frame = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::park_timeout(TICK);
        if started.elapsed() < DELAY || done.load(Ordering::Relaxed) {
            continue;
        }
        shown = true;
        let n = items.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let read = if n > 0 {
            format!(": {n} item(s) read")
        } else {
            String::new()
        };
        let _ = write!(
            err,
            "\r\x1b[2K{} {label}{read}, {}s",
            FRAMES[frame % FRAMES.len()],
            started.elapsed().as_secs()
        );
        let _ = err.flush();
        frame += 1;
    }
    if shown {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// A capacity store that adds the items each page read to a counter (the progress line's).
pub struct Counting<S> {
    pub inner: S,
    pub items: Arc<AtomicUsize>,
}

impl<S: CapacityStore> CapacityStore for Counting<S> {
    async fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        self.inner.write(record, condition).await
    }

    async fn tombstone(
        &self,
        key: &RecordKey,
        seen: Option<i64>,
        expires_at: i64,
    ) -> Result<Outcome, StoreError> {
        self.inner.tombstone(key, seen, expires_at).await
    }

    async fn page(&self, query: &ItemQuery<'_>, start: Option<&str>) -> Result<Page, StoreError> {
        let page = self.inner.page(query, start).await?;
        self.items.fetch_add(page.scanned, Ordering::Relaxed);
        Ok(page)
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, StoreError> {
        self.inner.clusters().await
    }

    async fn cluster_entry(&self, cluster: &str) -> Result<Option<ClusterEntry>, StoreError> {
        self.inner.cluster_entry(cluster).await
    }

    async fn register_cluster(&self, entry: &ClusterEntry) -> Result<bool, StoreError> {
        self.inner.register_cluster(entry).await
    }

    async fn put_cluster(&self, entry: &ClusterEntry) -> Result<(), StoreError> {
        self.inner.put_cluster(entry).await
    }
}
