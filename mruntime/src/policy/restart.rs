//! [`RestartPolicy`]: when a supervised task that panicked is started again, and when it gives up.

use std::ops::Range;
use std::time::Duration;

use crate::policy::jitter::Jitter;

/// How a supervised task is restarted after a panic: at most `max_restarts` restarts within a
/// sliding window of `within` (Erlang/OTP's restart intensity), each after an exponential backoff
/// with jitter between two bounds.
///
/// Given to [`Task::restart`](crate::Task::restart), or written as an attribute:
/// `#[safe_task(restart(max = 5, within = "60s", backoff = "100ms..10s"))]`.
///
/// # What happens after a panic
///
/// Every panic is reported (log, metric, span event, reporter) with its attempt number
/// ([`Panicked::attempt`](crate::Panicked::attempt): 1 for the first run, 2 for the first
/// restart, ...). Then:
///
/// - if the task's [`TaskContext`](crate::TaskContext) is cancelled (its group is shutting down,
///   say), it is not restarted: it ends with [`TaskError::Panicked`](crate::TaskError) carrying
///   that panic, and the [`PanicPolicy`](crate::PanicPolicy) does not apply (a shutdown is not a
///   give-up);
/// - if this restart would be the `max_restarts + 1`-th within the last `within`, the task
///   **gives up** and its [`PanicPolicy`](crate::PanicPolicy) applies: under `KeepRunning` it
///   ends with [`TaskError::Panicked`](crate::TaskError) carrying the last panic (whose
///   `attempt()` says how many runs there were); under `CrashProcess` the process ends;
/// - otherwise it sleeps for the backoff and runs again. Cancellation ends the sleep at once
///   (and the task, as above). A task that returns normally is never restarted.
///
/// A policy with `max_restarts == 0` never restarts: the first panic gives up.
///
/// # Backoff
///
/// Restart *n* (counting since the last reset) waits a random delay in
/// `[max(first, cap / 2), cap]`, where `cap = min(second, first × 2ⁿ)` and `first..second` are
/// the backoff bounds: "equal jitter", floored at the first bound. With `100ms..10s` the delays
/// lie in 100–200 ms, 200–400 ms, 400–800 ms, ... up to 5–10 s. The delay never leaves
/// `first..=second`, and a group of tasks failing together does not restart in lockstep. (A first
/// bound of zero grows from 1 ms.) The resolution is one millisecond.
///
/// The jitter comes from a small pseudo-random generator (splitmix64) seeded per task from the
/// process's random hashing keys, so that replicas of a service do not draw the same delays.
///
/// The backoff **resets** to the first step when an attempt had run for at least `within` before
/// it panicked: a task that fails rarely is restarted quickly, forever.
///
/// # In the macros: `restart(..)` and its duration literals
///
/// In `#[safe_task]` and `safe_go!`, `restart(max = 5, within = "60s", backoff = "100ms..10s")`
/// is this policy; every setting is optional (those values are the defaults), and `restart`
/// alone takes them all. `within` is a duration literal and `backoff` a range of two:
///
/// ```text
/// duration := digits unit          e.g. "250ms", "30s", "5m", "1h"
/// unit     := "ms" | "s" | "m" | "h"
/// range    := duration ".." duration   e.g. "100ms..10s" (first <= second)
/// ```
///
/// No spaces, no fractions (`"1500ms"`, not `"1.5s"`), no other units; `within` at least
/// `"1ms"`. A malformed literal, an inverted range, an unknown or repeated setting is a compile
/// error pointing at it and saying what to write. The macros turn the settings into a `static`
/// built with [`RestartPolicy::from_millis`].
///
/// ```
/// use std::time::Duration;
/// use mruntime::RestartPolicy;
///
/// // restart(max = 5, within = "60s", backoff = "100ms..10s")
/// const SYNC: RestartPolicy = RestartPolicy::from_millis(5, 60_000, 100, 10_000);
///
/// let same = RestartPolicy::new(5, Duration::from_secs(60), Duration::from_millis(100)..Duration::from_secs(10));
/// assert_eq!(SYNC, same);
/// assert_eq!(SYNC.max_restarts(), 5);
/// assert_eq!(SYNC.within(), Duration::from_secs(60));
/// assert_eq!(SYNC.backoff(), Duration::from_millis(100)..Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartPolicy {
    max_restarts: u32,
    within_ms: u64,
    backoff_first_ms: u64,
    backoff_second_ms: u64,
}

impl RestartPolicy {
    /// At most `max_restarts` restarts within any window of `within`, after a backoff growing
    /// exponentially from `backoff.start` to `backoff.end` (both inclusive). Durations are taken
    /// in whole milliseconds.
    ///
    /// # Panics
    ///
    /// When `within` is shorter than a millisecond or `backoff.start > backoff.end` (in a `const`
    /// or `static`, that is a compile error).
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = mruntime::RestartPolicy::new(
    ///     3,
    ///     Duration::from_secs(10),
    ///     Duration::from_millis(50)..Duration::from_secs(2),
    /// );
    /// assert_eq!(policy.max_restarts(), 3);
    /// ```
    pub const fn new(max_restarts: u32, within: Duration, backoff: Range<Duration>) -> Self {
        Self::from_millis(
            max_restarts,
            millis(within),
            millis(backoff.start),
            millis(backoff.end),
        )
    }

    /// [`RestartPolicy::new`] from milliseconds; what the macros expand to
    /// (`restart(max = 5, within = "60s", backoff = "100ms..10s")` is
    /// `RestartPolicy::from_millis(5, 60_000, 100, 10_000)`).
    ///
    /// # Panics
    ///
    /// When `within_ms` is zero or `backoff_first_ms > backoff_second_ms` (in a `const` or
    /// `static`, that is a compile error).
    ///
    /// ```
    /// static POLICY: mruntime::RestartPolicy = mruntime::RestartPolicy::from_millis(5, 60_000, 100, 10_000);
    /// assert_eq!(POLICY.within().as_secs(), 60);
    /// ```
    pub const fn from_millis(
        max_restarts: u32,
        within_ms: u64,
        backoff_first_ms: u64,
        backoff_second_ms: u64,
    ) -> Self {
        assert!(
            within_ms > 0,
            "RestartPolicy: `within` must be at least 1ms"
        );
        assert!(
            backoff_first_ms <= backoff_second_ms,
            "RestartPolicy: the backoff's first bound must not exceed its second"
        );
        RestartPolicy {
            max_restarts,
            within_ms,
            backoff_first_ms,
            backoff_second_ms,
        }
    }

    /// The most restarts allowed within [`within`](Self::within); one more and the task gives up.
    pub const fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// The intensity window, and how long an attempt must run to reset the backoff.
    pub const fn within(&self) -> Duration {
        Duration::from_millis(self.within_ms)
    }

    /// The backoff bounds: the first restart waits at least `start`, no restart waits more than
    /// `end`.
    pub const fn backoff(&self) -> Range<Duration> {
        Duration::from_millis(self.backoff_first_ms)..Duration::from_millis(self.backoff_second_ms)
    }

    /// The delay bounds `(low, high)` in milliseconds, both inclusive, of restart `n` (1-based,
    /// counted since the last backoff reset).
    pub(crate) fn delay_bounds_ms(&self, n: u32) -> (u64, u64) {
        let first = self.backoff_first_ms;
        let second = self.backoff_second_ms;
        let factor = 1u64.checked_shl(n).unwrap_or(u64::MAX);
        let cap = first.max(1).saturating_mul(factor).min(second);
        ((cap / 2).max(first), cap)
    }

    /// The delay before restart `n` (1-based, counted since the last backoff reset).
    pub(crate) fn delay(&self, n: u32, jitter: &mut Jitter) -> Duration {
        let (low, high) = self.delay_bounds_ms(n);
        Duration::from_millis(jitter.between(low, high))
    }
}

const fn millis(duration: Duration) -> u64 {
    let ms = duration.as_millis();
    if ms > u64::MAX as u128 {
        u64::MAX
    } else {
        ms as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: RestartPolicy = RestartPolicy::from_millis(5, 60_000, 100, 10_000);

    #[test]
    fn bounds_grow_exponentially_then_saturate_at_the_second_bound() {
        let bounds: Vec<_> = (1..=9).map(|n| WORKER.delay_bounds_ms(n)).collect();
        assert_eq!(
            bounds,
            [
                (100, 200),
                (200, 400),
                (400, 800),
                (800, 1600),
                (1600, 3200),
                (3200, 6400),
                (5000, 10_000),
                (5000, 10_000),
                (5000, 10_000),
            ]
        );
        assert_eq!(WORKER.delay_bounds_ms(u32::MAX), (5000, 10_000));
    }

    #[test]
    fn delays_stay_within_the_policy_bounds_for_any_seed_and_restart() {
        let policies = [
            WORKER,
            RestartPolicy::from_millis(1, 1, 0, 0),
            RestartPolicy::from_millis(1, 1, 0, 7),
            RestartPolicy::from_millis(1, 1, 250, 250),
            RestartPolicy::from_millis(1, 1, 300, 500),
            RestartPolicy::from_millis(1, 1, u64::MAX / 3, u64::MAX),
        ];
        for policy in policies {
            let range = policy.backoff();
            for seed in 0..200 {
                let mut jitter = Jitter::seeded(seed);
                for n in (1..=70).chain([u32::MAX - 1, u32::MAX]) {
                    let (low, high) = policy.delay_bounds_ms(n);
                    let delay = policy.delay(n, &mut jitter);
                    assert!(low <= high, "{policy:?} n={n}");
                    let ms = delay.as_millis() as u64;
                    assert!((low..=high).contains(&ms), "{policy:?} n={n}: {ms}");
                    assert!(
                        delay >= range.start && delay <= range.end,
                        "{policy:?} n={n}"
                    );
                }
            }
        }
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_step() {
        let mut jitter = Jitter::seeded(7);
        let delays: Vec<u64> = (0..2000)
            .map(|_| WORKER.delay(1, &mut jitter).as_millis() as u64)
            .collect();
        let (min, max) = (delays.iter().min(), delays.iter().max());
        assert_eq!((min, max), (Some(&100), Some(&200)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 90,
            "only {} distinct delays",
            distinct.len()
        );
    }

    #[test]
    fn equal_bounds_mean_a_fixed_delay() {
        let policy = RestartPolicy::from_millis(3, 1000, 250, 250);
        let mut jitter = Jitter::seeded(1);
        for n in 1..10 {
            assert_eq!(policy.delay(n, &mut jitter), Duration::from_millis(250));
        }
    }

    #[test]
    fn new_and_from_millis_agree_and_truncate_to_milliseconds() {
        let policy = RestartPolicy::new(
            2,
            Duration::from_micros(1500),
            Duration::from_micros(100_900)..Duration::from_secs(1),
        );
        assert_eq!(policy, RestartPolicy::from_millis(2, 1, 100, 1000));
    }

    #[test]
    #[should_panic(expected = "first bound must not exceed its second")]
    fn inverted_backoff_is_rejected() {
        let _ = RestartPolicy::from_millis(1, 1000, 10, 5);
    }

    #[test]
    #[should_panic(expected = "`within` must be at least 1ms")]
    fn empty_window_is_rejected() {
        let _ = RestartPolicy::new(1, Duration::from_micros(10), Duration::ZERO..Duration::ZERO);
    }
}
