//! The restart intensity of one supervised task: restart or give up, and after which backoff.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::RestartPolicy;
use crate::policy::jitter::Jitter;

/// What a supervisor does after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start the task again after this delay.
    Restart(Duration),
    /// More than `max_restarts` within `within`: stop and apply the panic policy.
    GiveUp,
}

/// The restarts of one task within the sliding window, and the backoff step.
#[derive(Debug)]
pub(crate) struct Intensity {
    policy: RestartPolicy,
    /// When each restart within the window was decided, oldest first.
    recent: VecDeque<Instant>,
    /// Restarts since the backoff was last reset (the backoff exponent).
    step: u32,
    /// Seeded at the first restart: most tasks never restart, and seeding costs a hash.
    jitter: Option<Jitter>,
}

impl Intensity {
    #[cfg(test)]
    pub(crate) fn new(policy: RestartPolicy, jitter: Jitter) -> Self {
        Intensity {
            policy,
            recent: VecDeque::new(),
            step: 0,
            jitter: Some(jitter),
        }
    }

    /// A new supervised task's intensity, its jitter seeded per task ([`Jitter::for_task`]) at
    /// its first restart.
    pub(crate) fn for_task(policy: RestartPolicy) -> Self {
        Intensity {
            policy,
            recent: VecDeque::new(),
            step: 0,
            jitter: None,
        }
    }

    /// Decides after a panic at `now` of an attempt that had run for `ran_for`.
    pub(crate) fn on_panic(&mut self, now: Instant, ran_for: Duration) -> Verdict {
        let within = self.policy.within();
        if ran_for >= within {
            self.step = 0;
        }
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.policy.max_restarts() as usize {
            return Verdict::GiveUp;
        }
        self.recent.push_back(now);
        self.step = self.step.saturating_add(1);
        let jitter = self.jitter.get_or_insert_with(Jitter::for_task);
        Verdict::Restart(self.policy.delay(self.step, jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn gives_up_on_the_restart_after_max_within_the_window() {
        let mut intensity = Intensity::new(
            RestartPolicy::from_millis(3, 1000, 10, 10),
            Jitter::seeded(1),
        );
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                intensity.on_panic(t0 + ms(i * 10), ms(0)),
                Verdict::Restart(ms(10))
            );
        }
        assert_eq!(intensity.on_panic(t0 + ms(40), ms(0)), Verdict::GiveUp);
    }

    #[test]
    fn restarts_older_than_the_window_are_forgotten() {
        let mut intensity = Intensity::new(
            RestartPolicy::from_millis(2, 1000, 10, 10),
            Jitter::seeded(1),
        );
        let t0 = Instant::now();
        assert!(matches!(intensity.on_panic(t0, ms(0)), Verdict::Restart(_)));
        assert!(matches!(
            intensity.on_panic(t0 + ms(500), ms(0)),
            Verdict::Restart(_)
        ));
        // t0 leaves the window at t0 + 1000: one restart left in it, so one more is allowed.
        assert!(matches!(
            intensity.on_panic(t0 + ms(1000), ms(0)),
            Verdict::Restart(_)
        ));
        assert_eq!(intensity.on_panic(t0 + ms(1001), ms(0)), Verdict::GiveUp);
    }

    #[test]
    fn zero_max_restarts_gives_up_at_once() {
        let mut intensity = Intensity::new(
            RestartPolicy::from_millis(0, 1000, 10, 10),
            Jitter::seeded(1),
        );
        assert_eq!(
            intensity.on_panic(Instant::now(), ms(5000)),
            Verdict::GiveUp
        );
    }

    #[test]
    fn a_run_as_long_as_the_window_resets_the_backoff() {
        let policy = RestartPolicy::from_millis(100, 1000, 100, 100_000);
        let mut intensity = Intensity::new(policy, Jitter::seeded(3));
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for ran_for in [0, 0, 0, 1000, 0] {
            now += ms(ran_for);
            let Verdict::Restart(delay) = intensity.on_panic(now, ms(ran_for)) else {
                panic!("gave up")
            };
            delays.push(delay.as_millis() as u64);
            now += delay;
        }
        let steps = [1, 2, 3, 1, 2];
        for (delay, step) in delays.iter().zip(steps) {
            let (low, high) = policy.delay_bounds_ms(step);
            assert!((low..=high).contains(delay), "{delays:?}");
        }
    }
}
