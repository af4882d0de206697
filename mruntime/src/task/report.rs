//! [`ShutdownReport`]: what a task group's shutdown learned.

use std::fmt;
use std::time::Duration;

use crate::panic::Panicked;
use crate::site::Site;
use crate::telemetry::egress;

/// What [`TaskGroup::shutdown`](crate::TaskGroup::shutdown) found: the tasks that did not stop
/// before the deadline (they were aborted), and the tasks that ended by panic since the group was
/// created (or since its previous shutdown).
///
/// Its `Display` is one line for your shutdown log, and like every text mruntime lets out of the
/// process it shows panic messages bounded and redacted, and none in production mode
/// ([`set_production_mode`](crate::set_production_mode)).
///
/// ```
/// use std::time::Duration;
/// use mruntime::{PanicPolicy, TaskGroup};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let group = TaskGroup::new();
/// let _worker = group.task("delivery", "processor").spawn(|ctx| async move { ctx.cancelled().await });
/// let _cleanup = group.task("delivery", "cleanup").spawn(|_| async { panic!("stuck item") });
/// tokio::task::yield_now().await;
///
/// let report = group.shutdown(Duration::from_secs(30)).await;
/// assert!(report.not_stopped().is_empty());
/// assert_eq!(report.panicked()[0].name(), "cleanup");
/// assert!(!report.is_clean());
/// println!("{report}"); // 1 task(s) ended by panic: delivery/cleanup x1 (attempt 1: stuck item)
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub(crate) not_stopped: Vec<Site>,
    pub(crate) panicked: Vec<PanicSummary>,
    pub(crate) deadline: Duration,
    pub(crate) elapsed: Duration,
}

impl ShutdownReport {
    /// The tasks still running at the deadline, in the order they were spawned. They were
    /// aborted; an async task ends at its next `.await`, a blocking one that already started
    /// runs to its end.
    pub fn not_stopped(&self) -> &[Site] {
        &self.not_stopped
    }

    /// The tasks of the group that ended by a panic, one entry per component/name, in the order
    /// of their first panic. A supervised task counts once it gave up, or once it panicked after
    /// cancellation (it is not restarted then).
    pub fn panicked(&self) -> &[PanicSummary] {
        &self.panicked
    }

    /// Whether every task stopped in time and none ended by panic.
    pub fn is_clean(&self) -> bool {
        self.not_stopped.is_empty() && self.panicked.is_empty()
    }

    /// How long the shutdown took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The deadline the shutdown was given.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(f, "all tasks stopped in {:?}", self.elapsed);
        }
        let mut sep = "";
        if !self.not_stopped.is_empty() {
            write!(
                f,
                "{} task(s) did not stop within {:?} and were aborted:",
                self.not_stopped.len(),
                self.deadline
            )?;
            for (i, site) in self.not_stopped.iter().enumerate() {
                let comma = if i == 0 { " " } else { ", " };
                write!(f, "{comma}{}/{}", site.component(), site.name())?;
            }
            sep = "; ";
        }
        if !self.panicked.is_empty() {
            let tasks: usize = self.panicked.iter().map(PanicSummary::tasks).sum();
            write!(f, "{sep}{tasks} task(s) ended by panic:")?;
            for (i, p) in self.panicked.iter().enumerate() {
                let comma = if i == 0 { " " } else { ", " };
                write!(
                    f,
                    "{comma}{}/{} x{} (attempt {}: {})",
                    p.component(),
                    p.name(),
                    p.tasks,
                    p.last_attempt,
                    egress::message(&p.last_message)
                )?;
            }
        }
        Ok(())
    }
}

/// The tasks of one component/name that ended by panic, in a [`ShutdownReport`].
///
/// Entries are per component/name, not per task, so that a group spawning many short tasks keeps
/// a bounded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicSummary {
    site: Site,
    tasks: usize,
    last_message: String,
    last_attempt: u32,
}

impl PanicSummary {
    pub(crate) fn new(panicked: &Panicked) -> Self {
        PanicSummary {
            site: *panicked.site(),
            tasks: 1,
            last_message: egress::value(panicked.message()).into_owned(),
            last_attempt: panicked.attempt(),
        }
    }

    pub(crate) fn add(&mut self, panicked: &Panicked) {
        self.tasks += 1;
        egress::value(panicked.message())
            .as_ref()
            .clone_into(&mut self.last_message);
        self.last_attempt = panicked.attempt();
    }

    /// The site (component, name, policy) of the tasks.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The tasks' component.
    pub fn component(&self) -> &'static str {
        self.site.component()
    }

    /// The tasks' name.
    pub fn name(&self) -> &'static str {
        self.site.name()
    }

    /// How many tasks of this component/name ended by panic.
    pub fn tasks(&self) -> usize {
        self.tasks
    }

    /// The message of the last such panic, as it may leave the process (this summary is meant
    /// for logs): cut to 1024 characters, secrets redacted, and in production mode
    /// `panic recovered (details redacted)`, as of when the panic was recorded. The raw message
    /// is the one of the [`Panicked`] the task's handle returned.
    pub fn last_message(&self) -> &str {
        &self.last_message
    }

    /// The attempt of the last such panic (how many runs a supervised task had).
    pub fn last_attempt(&self) -> u32 {
        self.last_attempt
    }
}
