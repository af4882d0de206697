//! The process's health: one registry of components, the drain and crash flags, and the watch
//! channel that publishes a new [`HealthReport`] when something changed.
//!
//! Every change is made under one lock, and the watch channel is updated under it too, so that
//! receivers see the changes in the order they happened. Telemetry (the `health.changed` event,
//! the `task_up` gauge) is emitted after the lock is released: a subscriber runs code of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};

use tokio::sync::watch;

use crate::health::report::{ComponentHealth, HealthReport, HealthState};
use crate::panic::Silenced;
use crate::policy::PanicPolicy;
use crate::site::Site;
use crate::telemetry;

/// Who registered a component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A supervised task (or one spawned with `health`): one entry per site, kept after it ends.
    Task,
    /// A [`HealthComponent`](crate::health::HealthComponent): removed when it is dropped.
    Own,
}

struct Entry {
    id: u64,
    kind: Kind,
    /// Instances of a task site running now.
    instances: u32,
    health: ComponentHealth,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    entries: Vec<Entry>,
    draining: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 0,
    entries: Vec::new(),
    draining: false,
});

/// Set once, when a `CrashProcess` crash starts; read without the lock (the crash may start
/// while a health change holds it).
static CRASHING: AtomicBool = AtomicBool::new(false);

static WATCH: OnceLock<watch::Sender<HealthReport>> = OnceLock::new();

fn registry() -> MutexGuard<'static, Registry> {
    // Nothing panics while holding it: a poisoned lock still holds consistent data.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sender() -> &'static watch::Sender<HealthReport> {
    WATCH.get_or_init(|| {
        // Told of a crash before its stderr line, report and flush.
        telemetry::on_crash_start(crash_started);
        watch::Sender::new(HealthReport::default())
    })
}

impl Registry {
    fn report(&self) -> HealthReport {
        HealthReport {
            draining: self.draining,
            crashing: CRASHING.load(Ordering::Acquire),
            components: self.entries.iter().map(|e| e.health.clone()).collect(),
        }
    }

    /// Publishes the report to the watch channel's receivers, if it changed and anyone listens.
    fn publish(&self) {
        if let Some(sender) = WATCH.get()
            && sender.receiver_count() > 0
        {
            let report = self.report();
            sender.send_if_modified(|current| {
                if *current == report {
                    false
                } else {
                    *current = report;
                    true
                }
            });
        }
    }

    fn entry(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id == id)
    }

    fn insert(&mut self, kind: Kind, site: &Site, state: HealthState) -> &mut Entry {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            kind,
            instances: 0,
            health: ComponentHealth {
                component: site.component(),
                name: site.name(),
                policy: site.policy(),
                state,
                restarts: 0,
                last_panic: None,
                reason: None,
            },
        });
        let last = self.entries.len() - 1;
        &mut self.entries[last]
    }
}

/// A state change to tell telemetry of, once the lock is released.
struct Changed {
    component: &'static str,
    name: &'static str,
    from: Option<HealthState>,
    to: HealthState,
}

impl Changed {
    fn emit(self) {
        // A subscriber or exporter that panics must not turn a health change into a panic
        // of ours (this runs in drops and in the crash path too).
        let _ = Silenced::run(|| {
            telemetry::health_changed(
                self.component,
                self.name,
                self.from.map(|s| s.as_str()),
                self.to.as_str(),
                self.to.is_up(),
            )
        });
    }
}

/// Applies `change` to the registry and publishes the result; `change` returns the state
/// change to report, if any.
fn update(change: impl FnOnce(&mut Registry) -> Option<Changed>) {
    let changed = {
        let mut registry = registry();
        let changed = change(&mut registry);
        if changed.is_some() {
            registry.publish();
        }
        changed
    };
    if let Some(changed) = changed {
        changed.emit();
    }
}

/// Moves `entry` to `to`, returning the change (none if it already was there).
fn set_state(entry: &mut Entry, to: HealthState) -> Option<Changed> {
    let from = entry.health.state;
    if from == to {
        return None;
    }
    entry.health.state = to;
    Some(Changed {
        component: entry.health.component,
        name: entry.health.name,
        from: Some(from),
        to,
    })
}

/// The health report now.
pub(crate) fn report() -> HealthReport {
    registry().report()
}

/// A receiver of every changed report, holding the report of now.
pub(crate) fn subscribe() -> watch::Receiver<HealthReport> {
    let sender = sender();
    let registry = registry();
    sender.send_replace(registry.report());
    sender.subscribe()
}

/// From now on the process is not ready.
pub(crate) fn drain() {
    let _ = sender();
    let first = {
        let mut registry = registry();
        let first = !registry.draining;
        registry.draining = true;
        registry.publish();
        first
    };
    if first {
        let _ = Silenced::run(telemetry::health_draining);
    }
}

/// A `CrashProcess` crash starts: not ready, not live ([`report`] reads the flag at once). The
/// receivers are told too, once the registry is free: other threads hold its lock only for a
/// copy, so it is tried for at most ~50 ms, never waited on (the crash must go on).
fn crash_started() {
    CRASHING.store(true, Ordering::Release);
    for _ in 0..50 {
        match REGISTRY.try_lock() {
            Ok(registry) => return registry.publish(),
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner().publish(),
            Err(TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
        }
    }
}

/// The health of one running instance of a task component, as supervision reports it. Dropped
/// without [`ended`](Self::ended) (the task was aborted, the runtime shut down): `Stopped`.
pub(crate) struct TaskHealth {
    id: u64,
    ended: bool,
}

/// How a task component's instance ended.
pub(crate) enum TaskEnd<'a> {
    /// Returned, or cancelled: `Stopped`.
    Stopped,
    /// Gave up (or, not supervised, ended by a panic) with this panic's message: `Failed`,
    /// unless its group is shutting it down (`Stopping`), which makes it `Stopped`.
    Failed(&'a str),
}

impl TaskHealth {
    /// A new instance of the task component `site`: `Serving`, unless the site has `Failed`.
    pub(crate) fn start(site: &Site) -> TaskHealth {
        let _ = sender();
        let mut id = 0;
        update(|registry| {
            let found = registry
                .entries
                .iter()
                .position(|e| e.kind == Kind::Task && e.health.site() == *site);
            let (entry, from) = match found {
                Some(i) => {
                    let entry = &mut registry.entries[i];
                    let from = entry.health.state;
                    (entry, Some(from))
                }
                None => (
                    registry.insert(Kind::Task, site, HealthState::Serving),
                    None,
                ),
            };
            id = entry.id;
            entry.instances = entry.instances.saturating_add(1);
            match from {
                None => Some(Changed {
                    component: site.component(),
                    name: site.name(),
                    from: None,
                    to: HealthState::Serving,
                }),
                Some(HealthState::Failed) => None,
                Some(_) => set_state(entry, HealthState::Serving),
            }
        });
        TaskHealth { id, ended: false }
    }

    /// An attempt panicked (`last_panic`) and attempt `attempt` starts after the backoff.
    pub(crate) fn restarting(&self, attempt: u32, last_panic: &str) {
        let last_panic = gated(last_panic);
        update(|registry| {
            let entry = registry.entry(self.id)?;
            entry.health.restarts = entry.health.restarts.saturating_add(1);
            entry.health.last_panic = Some(last_panic);
            match entry.health.state {
                HealthState::Failed | HealthState::Stopping => None,
                _ => set_state(entry, HealthState::Restarting { attempt }),
            }
        });
    }

    /// The next attempt started after its backoff.
    pub(crate) fn serving(&self) {
        update(|registry| {
            let entry = registry.entry(self.id)?;
            match entry.health.state {
                HealthState::Failed | HealthState::Stopping => None,
                _ => set_state(entry, HealthState::Serving),
            }
        });
    }

    /// The instance ended.
    pub(crate) fn ended(mut self, end: TaskEnd<'_>) {
        self.ended = true;
        let last_panic = match end {
            TaskEnd::Failed(message) => Some(gated(message)),
            TaskEnd::Stopped => None,
        };
        let id = self.id;
        update(move |registry| end_instance(registry, id, last_panic))
    }
}

impl Drop for TaskHealth {
    fn drop(&mut self) {
        if !self.ended {
            let id = self.id;
            update(move |registry| end_instance(registry, id, None));
        }
    }
}

/// One instance of entry `id` ended, failed (with its gated panic message) or not.
fn end_instance(registry: &mut Registry, id: u64, failed: Option<Arc<str>>) -> Option<Changed> {
    let entry = registry.entry(id)?;
    entry.instances = entry.instances.saturating_sub(1);
    let state = entry.health.state;
    match failed {
        Some(message) => {
            entry.health.last_panic = Some(message);
            if state == HealthState::Stopping {
                // Its group is shutting it down: a shutdown never fails a component.
                set_state(entry, stopped_or_running(entry))
            } else {
                set_state(entry, HealthState::Failed)
            }
        }
        None if state == HealthState::Failed => None,
        None => set_state(entry, stopped_or_running(entry)),
    }
}

/// `Stopped` once no instance of the site runs, else its state as it is.
fn stopped_or_running(entry: &Entry) -> HealthState {
    if entry.instances == 0 {
        HealthState::Stopped
    } else {
        entry.health.state
    }
}

/// The task component `site` is being stopped by its group's shutdown.
pub(crate) fn stopping(site: &Site) {
    update(|registry| {
        let entry = registry
            .entries
            .iter_mut()
            .find(|e| e.kind == Kind::Task && e.health.site() == *site && e.instances > 0)?;
        match entry.health.state {
            HealthState::Failed | HealthState::Stopped => None,
            _ => set_state(entry, HealthState::Stopping),
        }
    });
}

/// Registers a component of the user's, `Starting`; returns its id.
pub(crate) fn register_own(component: &'static str, name: &'static str) -> u64 {
    let _ = sender();
    let site = Site::new(component, name, PanicPolicy::KeepRunning);
    let mut id = 0;
    update(|registry| {
        id = registry.insert(Kind::Own, &site, HealthState::Starting).id;
        Some(Changed {
            component,
            name,
            from: None,
            to: HealthState::Starting,
        })
    });
    id
}

/// Sets a component of the user's to `to`, with `reason` (for `Failed`; cleared otherwise).
pub(crate) fn set_own(id: u64, to: HealthState, reason: Option<&str>) {
    let reason = reason.map(gated);
    update(|registry| {
        let entry = registry.entry(id)?;
        let changed_reason = entry.health.reason != reason;
        entry.health.reason = reason;
        let changed = set_state(entry, to);
        if changed.is_none() && changed_reason {
            // The state is the same, the reason is new: publish it, no transition to emit.
            registry.publish();
        }
        changed
    });
}

/// The state of a component of the user's.
pub(crate) fn own_state(id: u64) -> HealthState {
    registry()
        .entries
        .iter()
        .find(|e| e.id == id)
        .map_or(HealthState::Stopped, |e| e.health.state)
}

/// Removes a component of the user's.
pub(crate) fn remove_own(id: u64) {
    update(|registry| {
        let i = registry.entries.iter().position(|e| e.id == id)?;
        let entry = registry.entries.remove(i);
        // Its gauge goes to 0; the component leaves the report.
        Some(Changed {
            component: entry.health.component,
            name: entry.health.name,
            from: Some(entry.health.state),
            to: HealthState::Stopped,
        })
    });
}

/// A message (a panic's, a failure's reason) as health may show it: through the one egress gate.
fn gated(text: &str) -> Arc<str> {
    Silenced::run(|| Arc::from(telemetry::egress::message(text).as_ref()))
        .unwrap_or_else(|_| Arc::from("[REDACTED]"))
}
