//! Injectable time: the [`Clock`] the client reads and the [`Sleeper`] it waits with.
//!
//! Production code uses [`SystemClock`] and [`TokioSleeper`] (the defaults). Tests plug in a
//! [`VirtualTime`], which implements both: every sleep is recorded and moves the virtual clock
//! forward at once, so a retry schedule of 1 + 2 + 4 + 8 seconds runs in microseconds and can be
//! asserted exactly.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed, sendable future, as returned by [`Sleeper::sleep`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Wall-clock time as the client sees it: assertion `iat`/`exp`, token expiry, `Retry-After`
/// dates and polling deadlines all read it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// Waits between attempts (retry backoff, `Retry-After`, polling).
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// The system clock ([`SystemTime::now`]); the default [`Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// [`tokio::time::sleep`]; the default [`Sleeper`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Virtual time for tests: a [`Clock`] that stands still until something sleeps, and a
/// [`Sleeper`] that records each requested delay and advances the clock by it without waiting.
///
/// Clones share the same state, so hand one clone to the client builder and keep another to
/// inspect [`sleeps`](Self::sleeps) afterwards.
///
/// ```
/// use selo_sdk::time::{Clock, Sleeper, VirtualTime};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let time = VirtualTime::default();
/// let start = time.now();
/// time.sleep(Duration::from_secs(2)).await;
/// assert_eq!(time.now(), start + Duration::from_secs(2));
/// assert_eq!(time.sleeps(), vec![Duration::from_secs(2)]);
/// # }
/// ```
#[derive(Clone)]
pub struct VirtualTime {
    state: Arc<Mutex<VirtualState>>,
}

struct VirtualState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl VirtualTime {
    /// Virtual time starting at `start`.
    pub fn starting_at(start: SystemTime) -> Self {
        VirtualTime {
            state: Arc::new(Mutex::new(VirtualState {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Every delay requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// The sum of every delay requested so far.
    pub fn total_slept(&self) -> Duration {
        self.lock().sleeps.iter().sum()
    }

    /// Moves the clock forward by `by` without recording a sleep (time passing elsewhere).
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for VirtualTime {
    /// Starts at 2026-01-01T00:00:00Z.
    fn default() -> Self {
        VirtualTime::starting_at(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }
}

impl fmt::Debug for VirtualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("VirtualTime")
            .field("now", &s.now)
            .field("sleeps", &s.sleeps)
            .finish()
    }
}

impl Clock for VirtualTime {
    fn now(&self) -> SystemTime {
        self.lock().now
    }
}

impl Sleeper for VirtualTime {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        {
            let mut s = self.lock();
            s.sleeps.push(duration);
            s.now += duration;
        }
        Box::pin(tokio::task::yield_now())
    }
}

/// Whole seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
