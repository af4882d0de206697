//! The telemetry of health changes: the `health.changed` event and the `task_up` gauge.

use crate::telemetry::metrics;

/// A component moved from `from` (none: it is new) to `to`: one `health.changed` event (INFO,
/// WARN when it failed) and `task_up{component, goroutine_name}` set to `up`.
pub(crate) fn health_changed(
    component: &'static str,
    name: &'static str,
    from: Option<&'static str>,
    to: &'static str,
    up: bool,
) {
    let from = from.unwrap_or("none");
    if to == "failed" {
        tracing::warn!(target: "mruntime", component, name, goroutine_name = name, from, to, "health.changed");
    } else {
        tracing::info!(target: "mruntime", component, name, goroutine_name = name, from, to, "health.changed");
    }
    metrics::task_up(component, name, up);
}

/// The process drains: one INFO `health.draining` event.
pub(crate) fn health_draining() {
    tracing::info!(target: "mruntime", "health.draining");
}
