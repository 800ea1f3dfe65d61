//! One renewal at a time, shared by everyone who needs it: the primitive behind the token
//! refresh (`tokens`), and behind any other credential an app renews (`actix-memoram`'s
//! developer token uses it).
//!
//! - **One flight per key.** A renewal runs as a task of its own; every caller that needs it while
//!   it runs awaits the same one. Once started it runs to its end even if every caller is gone (a
//!   page's deadline passed, the browser closed the tab): what it got (a rotated refresh token)
//!   must be stored, not dropped.
//! - **A failure is shared.** Callers that were already waiting take the outcome of the renewal
//!   that failed instead of each trying again in turn (with a hanging provider, a page's three
//!   calls would otherwise wait for three timeouts).
//! - **A deadline.** Each caller waits at most until the deadline of the request it serves
//!   (`auth::with_deadline`); the renewal goes on without it.
//! - **The still-valid value stays in use.** [`SingleFlight::fresh`] hands out the current value
//!   while it is valid and renews it in the background during the margin before it expires: a slow
//!   or failing renewal costs nobody a page, as long as the old value still works.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

/// A failed renewal is remembered this long (for callers that were waiting for it, and to pause
/// background renewals); then it is forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// A renewal task panicked (a bug): nothing was stored. Error types convert it to their own.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the renewal failed unexpectedly")]
pub struct Panicked;

/// The caller's deadline passed before the renewal ended (the renewal goes on).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the renewal did not finish in time")]
pub struct Late;

/// A value that must be renewed before it expires (an access token, a developer token).
#[derive(Clone)]
pub struct Lease<T> {
    /// The value itself, handed out while it works.
    pub value: T,
    /// From this instant on, a renewal is due (the margin before expiry).
    pub renew_at: Option<SystemTime>,
    /// From this instant on, the value no longer works. `None`: not known.
    pub expires_at: Option<SystemTime>,
}

impl<T> Lease<T> {
    fn renewal_due(&self, now: SystemTime) -> bool {
        self.renew_at.is_some_and(|at| now >= at)
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

type Outcome<T, E> = Result<T, E>;
type Flight<T, E> = Shared<BoxFuture<'static, Outcome<T, E>>>;

enum Entry<T, E> {
    Running(Flight<T, E>),
    Failed { at: Instant, error: E },
}

/// Renewals in flight (and recent failures), per key.
pub struct SingleFlight<T, E> {
    entries: Arc<Mutex<HashMap<String, Entry<T, E>>>>,
}

impl<T, E> Clone for SingleFlight<T, E> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

impl<T, E> Default for SingleFlight<T, E> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<T, E> SingleFlight<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + From<Panicked> + From<Late> + 'static,
{
    /// The value to use now, given the `current` one (`None`: there is none yet):
    /// - fresh: it, at once;
    /// - due for renewal but still valid: it, at once, and a renewal starts in the background
    ///   (unless one is running, or the last one failed less than `pause` ago);
    /// - expired, or none: the renewal's outcome, waited for until the request's deadline.
    pub async fn fresh<F>(
        &self,
        key: &str,
        current: Option<Lease<T>>,
        pause: Duration,
        renewal: impl FnOnce() -> F,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let now = SystemTime::now();
        match current {
            Some(lease) if !lease.renewal_due(now) => Ok(lease.value),
            Some(lease) if !lease.expired(now) => {
                self.start(key, Some(pause), renewal);
                Ok(lease.value)
            }
            _ => self.renew(key, Instant::now(), renewal).await,
        }
    }

    /// Waits (until the request's deadline) for a renewal of `key`: the one running, or a new
    /// one. A renewal that failed at or after `since` (while the caller was on its way here,
    /// e.g. waiting for an answer that said "renew") is not tried again: its failure is returned.
    pub async fn renew<F>(
        &self,
        key: &str,
        since: Instant,
        renewal: impl FnOnce() -> F,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let flight = {
            let mut entries = self.lock();
            match entries.get(key) {
                Some(Entry::Running(flight)) => flight.clone(),
                Some(Entry::Failed { at, error }) if *at >= since => return Err(error.clone()),
                _ => self.launch(&mut entries, key, renewal()),
            }
        };
        super::within_deadline(flight, || Late.into()).await
    }

    /// Starts a renewal of `key` in the background, unless one is running or (with `pause`) the
    /// last one failed less than `pause` ago.
    pub fn start<F>(&self, key: &str, pause: Option<Duration>, renewal: impl FnOnce() -> F)
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(Entry::Running(_)) => {}
            Some(Entry::Failed { at, .. }) if pause.is_some_and(|p| at.elapsed() < p) => {}
            // The task runs (and records its outcome) whether or not anyone awaits it.
            _ => drop(self.launch(&mut entries, key, renewal())),
        }
    }

    /// Spawns `renewal` as a task that records its own outcome, and registers it under `key`.
    fn launch<F>(
        &self,
        entries: &mut HashMap<String, Entry<T, E>>,
        key: &str,
        renewal: F,
    ) -> Flight<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let (all, owned_key) = (self.entries.clone(), key.to_owned());
        let task = tokio::spawn(async move {
            let outcome = AssertUnwindSafe(renewal)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a renewal task panicked");
                    Err(Panicked.into())
                });
            let mut entries = all.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match &outcome {
                Ok(_) => {
                    entries.remove(&owned_key);
                }
                Err(error) => {
                    entries.retain(|_, entry| {
                        !matches!(entry, Entry::Failed { at, .. } if at.elapsed() > FAILURE_MEMORY)
                    });
                    let failed = Entry::Failed {
                        at: Instant::now(),
                        error: error.clone(),
                    };
                    entries.insert(owned_key, failed);
                }
            }
            outcome
        });
        let flight = task
            .map(|joined| joined.unwrap_or_else(|_| Err(Panicked.into())))
            .boxed()
            .shared();
        entries.insert(key.to_owned(), Entry::Running(flight.clone()));
        flight
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<T, E>>> {
        // Nothing holding this lock can panic halfway through a change: a poisoned map is sound.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keys with a renewal running or a failure remembered (for tests of the bound).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no renewal is running and no failure is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Clone, PartialEq)]
    enum Error {
        Down,
        Panicked,
        Late,
    }
    impl From<Panicked> for Error {
        fn from(_: Panicked) -> Self {
            Error::Panicked
        }
    }
    impl From<Late> for Error {
        fn from(_: Late) -> Self {
            Error::Late
        }
    }

    type Flights = SingleFlight<u32, Error>;

    fn counting(
        calls: &Arc<AtomicUsize>,
        delay: Duration,
        outcome: Result<u32, Error>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<u32, Error>> {
        let calls = calls.clone();
        move || {
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                outcome
            }
            .boxed()
        }
    }

    fn lease(renew_in: i64, expires_in: i64) -> Lease<u32> {
        let at = |seconds: i64| {
            let now = SystemTime::now();
            Some(if seconds >= 0 {
                now + Duration::from_secs(seconds as u64)
            } else {
                now - Duration::from_secs((-seconds) as u64)
            })
        };
        Lease {
            value: 1,
            renew_at: at(renew_in),
            expires_at: at(expires_in),
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_renewal() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        let waiting: Vec<_> = (0..10)
            .map(|_| {
                let (flights, renewal) = (
                    flights.clone(),
                    counting(&calls, Duration::from_millis(50), Ok(7)),
                );
                tokio::spawn(async move { flights.renew("k", Instant::now(), renewal).await })
            })
            .collect();
        for caller in waiting {
            assert_eq!(caller.await.expect("task"), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty(), "a success leaves nothing behind");
    }

    #[tokio::test]
    async fn a_failure_is_shared_with_those_who_waited_and_not_with_later_callers() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        let asked = Instant::now();
        let first = flights.renew(
            "k",
            asked,
            counting(&calls, Duration::ZERO, Err(Error::Down)),
        );
        assert_eq!(first.await, Err(Error::Down));
        // A caller that was on its way since before the failure takes it.
        let waited = flights.renew("k", asked, counting(&calls, Duration::ZERO, Ok(1)));
        assert_eq!(waited.await, Err(Error::Down));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // One that asks afterwards tries again.
        let later = flights.renew("k", Instant::now(), counting(&calls, Duration::ZERO, Ok(2)));
        assert_eq!(later.await, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_caller_stops_waiting_at_its_deadline_and_the_renewal_goes_on() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        let late = crate::auth::with_deadline(
            Duration::from_millis(20),
            flights.renew(
                "k",
                Instant::now(),
                counting(&calls, Duration::from_millis(200), Ok(3)),
            ),
        );
        assert_eq!(late.await, Err(Error::Late));
        // The renewal still runs: a new caller joins it rather than starting another.
        let joined = flights.renew("k", Instant::now(), counting(&calls, Duration::ZERO, Ok(4)));
        assert_eq!(joined.await, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_valid_value_is_used_while_its_renewal_hangs_and_renewed_once() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        for _ in 0..5 {
            // Inside the margin (renewal due), not expired: answered at once.
            let value = tokio::time::timeout(
                Duration::from_millis(100),
                flights.fresh(
                    "k",
                    Some(lease(-1, 60)),
                    Duration::from_secs(5),
                    counting(&calls, Duration::from_secs(3600), Ok(9)),
                ),
            )
            .await
            .expect("not held by the renewal");
            assert_eq!(value, Ok(1));
        }
        // Let the background renewal start.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one renewal in flight");
    }

    #[tokio::test]
    async fn fresh_values_cost_nothing_and_expired_ones_wait_for_the_renewal() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        let pause = Duration::from_secs(5);
        let fresh = flights.fresh(
            "k",
            Some(lease(60, 120)),
            pause,
            counting(&calls, Duration::ZERO, Ok(2)),
        );
        assert_eq!(fresh.await, Ok(1));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let expired = flights.fresh(
            "k",
            Some(lease(-60, -1)),
            pause,
            counting(&calls, Duration::ZERO, Ok(2)),
        );
        assert_eq!(expired.await, Ok(2));
        let none = flights.fresh("k", None, pause, counting(&calls, Duration::ZERO, Ok(3)));
        assert_eq!(none.await, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn background_renewals_pause_after_a_failure() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        let pause = Duration::from_millis(200);
        let due = || Some(lease(-1, 60));
        let failing = || counting(&calls, Duration::ZERO, Err(Error::Down));
        assert_eq!(flights.fresh("k", due(), pause, failing()).await, Ok(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(flights.fresh("k", due(), pause, failing()).await, Ok(1));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "paused after the failure");
        tokio::time::sleep(pause).await;
        assert_eq!(flights.fresh("k", due(), pause, failing()).await, Ok(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "tried again after the pause"
        );
    }

    #[tokio::test]
    async fn a_panicking_renewal_is_an_error_for_its_waiters_and_does_not_block_the_key() {
        let flights = Flights::default();
        let outcome = flights
            .renew("k", Instant::now(), || async { panic!("a bug") })
            .await;
        assert_eq!(outcome, Err(Error::Panicked));
        let again = flights.renew("k", Instant::now(), || async { Ok(5) }).await;
        assert_eq!(again, Ok(5));
    }

    #[tokio::test]
    async fn keys_do_not_wait_for_each_other() {
        let (flights, calls) = (Flights::default(), Arc::new(AtomicUsize::new(0)));
        flights.start(
            "slow",
            None,
            counting(&calls, Duration::from_secs(3600), Ok(1)),
        );
        let other = tokio::time::timeout(
            Duration::from_millis(200),
            flights.renew(
                "other",
                Instant::now(),
                counting(&calls, Duration::ZERO, Ok(2)),
            ),
        )
        .await
        .expect("not behind the slow key");
        assert_eq!(other, Ok(2));
    }
}
