//! Group commit of replay records, shared by the backends: requests queue up while one batch
//! commits, and the next batch takes them all at once (one transaction, one durable write).

use crate::{AssertionUse, AssertionUseDone, AssertionUseOutcome, StoreError, StoreResult};
use std::sync::{Arc, Mutex, mpsc};

/// Most replay records committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// The sending end of a replay-record writer's queue.
type ReplayQueue = mpsc::Sender<(AssertionUse, AssertionUseDone)>;

/// Commits one batch of replay records; its outcomes in the batch's order.
pub(crate) type CommitBatch =
    Arc<dyn Fn(&[AssertionUse]) -> StoreResult<Vec<AssertionUseOutcome>> + Send + Sync>;

/// A backend's replay-record writer: a thread running [`supervised`] over its queue, started on
/// first use and again whenever it is found gone, so a lost thread never stalls token requests.
pub(crate) struct ReplayWriter {
    commit: CommitBatch,
    queue: Mutex<Option<ReplayQueue>>,
}

impl ReplayWriter {
    /// A writer whose batches `commit` commits (its thread starts with the first request).
    pub(crate) fn new(commit: CommitBatch) -> ReplayWriter {
        ReplayWriter {
            commit,
            queue: Mutex::new(None),
        }
    }

    /// Queues `request`; `done` is called on the writer's thread once its batch committed (or
    /// failed).
    pub(crate) fn submit(&self, request: AssertionUse, done: AssertionUseDone) {
        let mut job = (request, done);
        for _ in 0..2 {
            let queue = {
                let mut slot = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(q) => q.clone(),
                    None => match self.start() {
                        Ok(q) => slot.insert(q).clone(),
                        Err(e) => {
                            (job.1)(Err(StoreError::Io(e)));
                            return;
                        }
                    },
                }
            };
            match queue.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(back)) => {
                    tracing::error!("the replay-record writer had stopped; starting it again");
                    *self.queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    job = back;
                }
            }
        }
        (job.1)(Err(StoreError::Interrupted(
            "the replay-record writer could not be started".into(),
        )));
    }

    /// Starts the writer thread; returns its queue.
    fn start(&self) -> std::io::Result<ReplayQueue> {
        let (tx, rx) = mpsc::channel();
        let commit = self.commit.clone();
        std::thread::Builder::new()
            .name("selo-replay-commit".into())
            .spawn(move || supervised(rx, |batch| commit(batch)))?;
        Ok(tx)
    }
}

/// Runs a group-commit loop: waits for one request, takes whatever else is queued (up to
/// [`MAX_BATCH`]), has `commit` commit them together and answers each; ends when every sender
/// is gone. A panic inside `commit` (a bug) is caught: the batch's requests are answered
/// [`StoreError::Interrupted`] (the server says 503, retry) and the loop goes on, so one panic
/// never stalls every later token request.
fn supervised(
    queue: mpsc::Receiver<(AssertionUse, AssertionUseDone)>,
    commit: impl Fn(&[AssertionUse]) -> StoreResult<Vec<AssertionUseOutcome>>,
) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let batch: Vec<AssertionUse> = jobs.iter().map(|(u, _)| *u).collect();
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&batch)));
        match committed {
            Ok(Ok(outcomes)) => {
                for ((_, done), outcome) in jobs.into_iter().zip(outcomes) {
                    done(Ok(outcome));
                }
            }
            Ok(Err(e)) => {
                let full = e.is_storage_full();
                let text = e.to_string();
                for (_, done) in jobs {
                    done(Err(if full {
                        StoreError::Io(std::io::Error::new(
                            std::io::ErrorKind::StorageFull,
                            text.clone(),
                        ))
                    } else {
                        StoreError::Io(std::io::Error::other(text.clone()))
                    }));
                }
            }
            Err(_) => {
                tracing::error!(
                    requests = jobs.len(),
                    "the replay-record writer panicked; its requests are answered 503 and it goes on"
                );
                for (_, done) in jobs {
                    done(Err(StoreError::Interrupted(
                        "the replay-record writer was interrupted".into(),
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_writer_thread_that_ended_is_started_again() {
        let writer = ReplayWriter::new(Arc::new(|batch: &[AssertionUse]| {
            Ok(vec![AssertionUseOutcome::Fresh; batch.len()])
        }));
        // A queue whose thread is gone: its receiver was dropped.
        let (dead, _) = mpsc::channel();
        *writer.queue.lock().unwrap() = Some(dead);
        let (tx, rx) = mpsc::channel();
        let request = AssertionUse {
            key: crate::ReplayKey {
                hash: [9; 32],
                expires_at: 100,
            },
            now: 1,
            epoch: 0,
        };
        writer.submit(request, Box::new(move |r| tx.send(r).unwrap()));
        assert_eq!(rx.recv().unwrap().unwrap(), AssertionUseOutcome::Fresh);
    }

    /// One request through `supervised`'s queue, answered on this thread.
    fn one(
        queue: &mpsc::Sender<(AssertionUse, AssertionUseDone)>,
    ) -> StoreResult<AssertionUseOutcome> {
        let (tx, rx) = mpsc::channel();
        let request = AssertionUse {
            key: crate::ReplayKey {
                hash: [7; 32],
                expires_at: 100,
            },
            now: 1,
            epoch: 0,
        };
        queue
            .send((request, Box::new(move |r| tx.send(r).unwrap())))
            .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn a_panic_in_the_group_commit_answers_its_batch_and_the_writer_goes_on() {
        let (queue, rx) = mpsc::channel();
        let batches = AtomicUsize::new(0);
        let writer = std::thread::spawn(move || {
            supervised(rx, |batch| {
                if batches.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("injected fault in the replay-record writer");
                }
                Ok(vec![AssertionUseOutcome::Fresh; batch.len()])
            })
        });
        assert!(matches!(one(&queue), Err(StoreError::Interrupted(_))));
        assert_eq!(one(&queue).unwrap(), AssertionUseOutcome::Fresh);
        drop(queue);
        writer.join().unwrap();
    }
}
