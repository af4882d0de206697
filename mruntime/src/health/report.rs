//! The values health hands out: a component's [`HealthState`], its [`ComponentHealth`], and the
//! process's [`HealthReport`].

use std::fmt;
use std::sync::Arc;

use crate::policy::PanicPolicy;
use crate::site::Site;

/// Where a health component is in its life.
///
/// | state | begins | ends | ready? | `task_up` |
/// |---|---|---|---|---|
/// | `Starting` | [`component`](crate::health::component) is called | `set_serving` or `set_failed` | no | 0 |
/// | `Serving` | a supervised task's attempt starts (at the spawn, and after each backoff); `set_serving` | a panic, a return, a cancellation, a shutdown | yes | 1 |
/// | `Restarting { attempt }` | an attempt panicked and the restart intensity allows another | the next attempt starts (`Serving`), or cancellation during the backoff (`Stopped`) | yes | 1 |
/// | `Failed` | a supervised task gave up, a task with `health` ended by a panic, `set_failed` | never for a task (sticky); `set_serving` for your own component | no | 0 |
/// | `Stopping` | [`TaskGroup::shutdown`](crate::TaskGroup::shutdown) started for its group | the task ends (`Stopped`) | yes | 0 |
/// | `Stopped` | the task returned, was cancelled, aborted, or ended during its group's shutdown | a new spawn of the same site (`Serving`) | yes | 0 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HealthState {
    /// A component of yours, registered and not yet serving.
    Starting,
    /// Doing its work: an attempt of a supervised task is running.
    Serving,
    /// Between two attempts of a supervised task: `attempt` (2, 3, ...) starts after the backoff.
    Restarting {
        /// The number of the attempt that starts after the backoff.
        attempt: u32,
    },
    /// Gave up: the process is not ready while any component is `Failed`.
    Failed,
    /// Its task group is shutting down and it has not ended yet.
    Stopping,
    /// Ended without a failure: returned, cancelled, aborted, or stopped by its group.
    Stopped,
}

impl HealthState {
    /// The state as the health endpoints and the `health.changed` event spell it:
    /// `starting`, `serving`, `restarting`, `failed`, `stopping`, `stopped`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Serving => "serving",
            HealthState::Restarting { .. } => "restarting",
            HealthState::Failed => "failed",
            HealthState::Stopping => "stopping",
            HealthState::Stopped => "stopped",
        }
    }

    /// Whether this state keeps the process from being ready (`Starting` and `Failed`).
    pub const fn blocks_readiness(&self) -> bool {
        matches!(self, HealthState::Starting | HealthState::Failed)
    }

    /// Whether the component counts as up (`Serving`, `Restarting`): the value of its
    /// `task_up` gauge.
    pub const fn is_up(&self) -> bool {
        matches!(self, HealthState::Serving | HealthState::Restarting { .. })
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthState::Restarting { attempt } => write!(f, "restarting (attempt {attempt})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// One component as a [`HealthReport`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    pub(crate) component: &'static str,
    pub(crate) name: &'static str,
    pub(crate) policy: PanicPolicy,
    pub(crate) state: HealthState,
    pub(crate) restarts: u32,
    pub(crate) last_panic: Option<Arc<str>>,
    pub(crate) reason: Option<Arc<str>>,
}

impl ComponentHealth {
    /// Its site: the task's component, name and policy (for a component of yours, under
    /// [`PanicPolicy::KeepRunning`]).
    pub fn site(&self) -> Site {
        Site::new(self.component, self.name, self.policy)
    }

    /// The component label (`component` of the task or of [`component`](crate::health::component)).
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The name label (the task's `name`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its state now.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// How many times a supervised task was restarted (0 for other components).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The message of its last recovered panic, as every sink shows it: bounded, secrets
    /// redacted, and in production mode ([`set_production_mode`](crate::set_production_mode))
    /// withheld (`panic recovered (details redacted)`), as every sink shows it.
    pub fn last_panic(&self) -> Option<&str> {
        self.last_panic.as_deref()
    }

    /// The reason given to [`HealthComponent::set_failed`](crate::health::HealthComponent::set_failed),
    /// bounded and redacted as a panic message is.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// The health of the process: whether it is ready and live, and every component's state.
///
/// - **Ready**: no component is [`Failed`](HealthState::Failed) or
///   [`Starting`](HealthState::Starting), [`drain`](crate::health::drain) was not called, and no
///   `CrashProcess` crash is in progress.
/// - **Live**: no `CrashProcess` crash is in progress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthReport {
    pub(crate) draining: bool,
    pub(crate) crashing: bool,
    pub(crate) components: Vec<ComponentHealth>,
}

impl HealthReport {
    /// Whether the process should receive traffic.
    pub fn is_ready(&self) -> bool {
        !self.draining
            && !self.crashing
            && !self.components.iter().any(|c| c.state.blocks_readiness())
    }

    /// Whether the process should be left running (false only while it crashes).
    pub fn is_live(&self) -> bool {
        !self.crashing
    }

    /// Whether [`drain`](crate::health::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether a `CrashProcess` crash is in progress.
    pub fn is_crashing(&self) -> bool {
        self.crashing
    }

    /// Every component, in the order they were first registered.
    pub fn components(&self) -> &[ComponentHealth] {
        &self.components
    }

    /// The component registered under `component`/`name`, if any (the first, for components of
    /// yours registered twice under one name).
    pub fn get(&self, component: &str, name: &str) -> Option<&ComponentHealth> {
        self.components
            .iter()
            .find(|c| c.component == component && c.name == name)
    }

    /// The readiness probe's JSON document: `{"status": "ready" | "not_ready", "draining": bool,
    /// "crashing": bool, "components": [{"component", "name", "state", "restarts",
    /// "last_panic", "reason"}]}`, with `null` for an absent message.
    pub fn readiness_json(&self) -> String {
        self.to_json(if self.is_ready() {
            "ready"
        } else {
            "not_ready"
        })
    }

    /// The liveness probe's JSON document: [`readiness_json`](Self::readiness_json)'s, with
    /// `"status": "live" | "not_live"`.
    pub fn liveness_json(&self) -> String {
        self.to_json(if self.is_live() { "live" } else { "not_live" })
    }

    /// `{"status": status, "draining": .., "crashing": .., "components": [{"component", "name",
    /// "state", "restarts", "last_panic", "reason"}]}`, with `null` for an absent message.
    fn to_json(&self, status: &str) -> String {
        let mut out = String::with_capacity(64 + 128 * self.components.len());
        out.push_str("{\"status\":");
        json_string(&mut out, status);
        out.push_str(",\"draining\":");
        out.push_str(bool_str(self.draining));
        out.push_str(",\"crashing\":");
        out.push_str(bool_str(self.crashing));
        out.push_str(",\"components\":[");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"component\":");
            json_string(&mut out, c.component);
            out.push_str(",\"name\":");
            json_string(&mut out, c.name);
            out.push_str(",\"state\":");
            json_string(&mut out, c.state.as_str());
            out.push_str(",\"restarts\":");
            out.push_str(&c.restarts.to_string());
            out.push_str(",\"last_panic\":");
            json_optional(&mut out, c.last_panic.as_deref());
            out.push_str(",\"reason\":");
            json_optional(&mut out, c.reason.as_deref());
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

impl fmt::Display for HealthReport {
    /// One line per component after a headline: `ready` / `not ready (draining)` and so on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_ready() {
            "ready"
        } else {
            "not ready"
        })?;
        if self.crashing {
            f.write_str(", crashing")?;
        } else if self.draining {
            f.write_str(", draining")?;
        }
        for c in &self.components {
            write!(f, "\n  {}/{}: {}", c.component, c.name, c.state)?;
            if c.restarts > 0 {
                write!(f, ", {} restarts", c.restarts)?;
            }
            if let Some(reason) = &c.reason {
                write!(f, ", reason: {reason}")?;
            }
            if let Some(panic) = &c.last_panic {
                write!(f, ", last panic: {panic}")?;
            }
        }
        Ok(())
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn json_optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.push_str("null"),
    }
}

/// `text` as a JSON string: quotes, backslashes and control characters escaped.
fn json_string(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(state: HealthState, last_panic: Option<&str>) -> ComponentHealth {
        ComponentHealth {
            component: "ledger",
            name: "sync",
            policy: PanicPolicy::KeepRunning,
            state,
            restarts: 2,
            last_panic: last_panic.map(Arc::from),
            reason: None,
        }
    }

    #[test]
    fn readiness_follows_the_states_drain_and_crash() {
        let mut report = HealthReport::default();
        assert!(report.is_ready() && report.is_live());
        for (state, ready) in [
            (HealthState::Serving, true),
            (HealthState::Restarting { attempt: 2 }, true),
            (HealthState::Stopping, true),
            (HealthState::Stopped, true),
            (HealthState::Starting, false),
            (HealthState::Failed, false),
        ] {
            report.components = vec![component(state, None)];
            assert_eq!(report.is_ready(), ready, "{state:?}");
            assert!(report.is_live());
        }
        report.components.clear();
        report.draining = true;
        assert!(!report.is_ready() && report.is_live());
        report.crashing = true;
        assert!(!report.is_ready() && !report.is_live());
    }

    #[test]
    fn json_escapes_every_text() {
        let report = HealthReport {
            draining: false,
            crashing: false,
            components: vec![component(
                HealthState::Failed,
                Some("bad \"row\"\n\\ \u{1} é"),
            )],
        };
        assert_eq!(
            report.readiness_json(),
            "{\"status\":\"not_ready\",\"draining\":false,\"crashing\":false,\"components\":[\
             {\"component\":\"ledger\",\"name\":\"sync\",\"state\":\"failed\",\"restarts\":2,\
             \"last_panic\":\"bad \\\"row\\\"\\n\\\\ \\u0001 é\",\"reason\":null}]}"
        );
        assert!(report.liveness_json().starts_with("{\"status\":\"live\""));
    }
}
