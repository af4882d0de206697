//! [`HealthComponent`]: a health check of the user's own.

use std::fmt;

use crate::health::registry;
use crate::health::report::HealthState;

/// A component of your own in the process's health (made by [`component`](crate::health::component)):
/// `Starting` until [`set_serving`](Self::set_serving); [`set_failed`](Self::set_failed) makes
/// the process not ready until `set_serving` again. Dropping it removes the component.
///
/// It is `Send + Sync`: share it (`Arc`) with whatever watches the resource.
#[must_use = "dropping a HealthComponent removes it from the health report"]
pub struct HealthComponent {
    id: u64,
    component: &'static str,
    name: &'static str,
}

impl HealthComponent {
    pub(crate) fn register(component: &'static str, name: &'static str) -> Self {
        HealthComponent {
            id: registry::register_own(component, name),
            component,
            name,
        }
    }

    /// The component is up: ready as far as it is concerned.
    pub fn set_serving(&self) {
        registry::set_own(self.id, HealthState::Serving, None);
    }

    /// The component is down for `reason` (shown in the report, bounded and redacted as a
    /// panic message is): the process is not ready until [`set_serving`](Self::set_serving).
    pub fn set_failed(&self, reason: impl AsRef<str>) {
        registry::set_own(self.id, HealthState::Failed, Some(reason.as_ref()));
    }

    /// Its state now.
    pub fn state(&self) -> HealthState {
        registry::own_state(self.id)
    }
}

impl fmt::Debug for HealthComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthComponent")
            .field("component", &self.component)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Drop for HealthComponent {
    fn drop(&mut self) {
        registry::remove_own(self.id);
    }
}
