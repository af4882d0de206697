//! The events of a supervised task's restarts: restarting after a backoff, or giving up.

use std::time::Duration;

use crate::panic::Panicked;
use crate::policy::RestartPolicy;
use crate::site::Site;
use crate::telemetry::metrics;

/// A supervised task is started again, as `attempt`, now that its `backoff` has passed (a task
/// cancelled during its backoff is not restarted and not counted): one INFO `task.restarting`
/// event and one `task_restarts_total{component, goroutine_name}`.
pub(crate) fn restarted(site: &Site, attempt: u32, backoff: Duration) {
    metrics::task_restarted(site);
    tracing::info!(
        target: "mruntime",
        component = site.component(),
        goroutine_name = site.name(),
        attempt = attempt,
        backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        "task.restarting"
    );
}

/// A supervised task exceeded its restart intensity; its panic policy applies next.
pub(crate) fn gave_up(panicked: &Panicked, restart: &RestartPolicy) {
    tracing::error!(
        target: "mruntime",
        component = panicked.component(),
        goroutine_name = panicked.name(),
        policy = panicked.policy().as_str(),
        attempt = panicked.attempt(),
        max_restarts = restart.max_restarts(),
        within_ms = u64::try_from(restart.within().as_millis()).unwrap_or(u64::MAX),
        "task.gave_up"
    );
}
