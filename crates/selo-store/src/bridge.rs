//! The blocking bridge of the networked backends (PostgreSQL, S3): a small runtime of their
//! own drives their connections, and each blocking call waits for its future without stalling
//! the caller's async workers (the crate's blocking contract).

use std::future::Future;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// A one-worker runtime that drives a backend's connections; shut down without waiting when
/// dropped (possibly on an async worker, where waiting is not allowed).
pub(crate) struct Bridge {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Bridge {
    /// Starts the runtime; `name` names its thread.
    pub(crate) fn start(name: &str) -> std::io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Bridge {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// A handle that runs work on this runtime (see [`wait`]).
    pub(crate) fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Waits for `work` on `handle`'s runtime. On an async worker of a multi-threaded runtime the
/// worker hands its other tasks to another thread first (`block_in_place`); on a
/// current-thread runtime the wait happens on a helper thread, so the caller's runtime never
/// runs inside this one; elsewhere (the admin CLI, a writer thread) it simply blocks.
pub(crate) fn wait<T: Send>(handle: &Handle, work: impl Future<Output = T> + Send) -> T {
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::CurrentThread) => std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(work))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Ok(_) => tokio::task::block_in_place(|| handle.block_on(work)),
        Err(_) => handle.block_on(work),
    }
}
