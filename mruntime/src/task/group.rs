//! [`TaskGroup`]: tasks that are stopped together, within a deadline, with a report.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::panic::{Panicked, Silenced};
use crate::site::Site;
use crate::task::report::{PanicSummary, ShutdownReport};
use crate::task::{Task, TaskContext};

/// A set of guarded tasks that are shut down together: Go's `WorkerManager` with
/// `StartAll(ctx)` / `StopAll(30 * time.Second)`, and the goroutine-leak check.
///
/// Spawn into it with [`TaskGroup::task`] (or [`Task::group`], or `group = expr` in `safe_go!` /
/// `#[safe_task]`). [`shutdown`](TaskGroup::shutdown) cancels every task's
/// [`TaskContext`], waits for them up to a deadline, aborts the rest, and returns a
/// [`ShutdownReport`] naming the tasks that did not stop and those that ended by panic.
/// [`active`](TaskGroup::active) lists the tasks running now.
///
/// # Clone and Drop
///
/// A `TaskGroup` is a handle: clones share the same group (pass one to whoever spawns into it).
/// Dropping the **last** handle cancels every task's context, as Go's `defer cancel()` would,
/// but neither waits nor aborts: tasks that ignore cancellation keep running (detached, their
/// panics still reported). Call `shutdown` to wait and to learn who did not stop. A task that
/// holds a clone of its own group keeps the group alive.
///
/// After `shutdown` has started, tasks spawned into the group start already cancelled.
///
/// ```
/// use std::time::Duration;
/// use mruntime::{RestartPolicy, TaskGroup};
///
/// # #[tokio::main] async fn main() {
/// let workers = TaskGroup::new();
/// for name in ["email-sender", "sms-sender"] {
///     let _worker = workers
///         .task("notification", name)
///         .restart(RestartPolicy::from_millis(5, 60_000, 100, 10_000))
///         .spawn(|ctx| async move {
///             while !ctx.is_cancelled() {
///                 tokio::select! {
///                     _ = ctx.cancelled() => break,
///                     _ = tokio::time::sleep(Duration::from_millis(10)) => { /* one round */ }
///                 }
///             }
///         });
/// }
/// assert_eq!(workers.active().len(), 2);
///
/// let report = workers.shutdown(Duration::from_secs(30)).await; // StopAll(30s)
/// assert!(report.is_clean(), "{report}");
/// assert!(workers.active().is_empty());
/// # }
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    owner: Arc<Owner>,
}

/// What user handles share; dropping it (the last handle) cancels the group.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// What the group's tasks share with it.
struct Shared {
    tracker: TaskTracker,
    token: CancellationToken,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    running: BTreeMap<u64, Running>,
    panicked: Vec<PanicSummary>,
    closed: bool,
}

struct Running {
    site: Site,
    token: CancellationToken,
    abort: Option<AbortHandle>,
    abort_requested: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the group as shutting down and cancels the group's token and every task's.
    fn close(&self) {
        let tokens: Vec<CancellationToken> = {
            let mut state = self.state();
            state.closed = true;
            state.running.values().map(|r| r.token.clone()).collect()
        };
        self.tracker.close();
        self.token.cancel();
        for token in tokens {
            token.cancel();
        }
    }

    /// Aborts every task still running and returns their sites, in spawn order.
    fn abort_running(&self) -> Vec<Site> {
        let mut state = self.state();
        state
            .running
            .values_mut()
            .map(|running| {
                running.abort_requested = true;
                if let Some(abort) = &running.abort {
                    abort.abort();
                }
                running.site
            })
            .collect()
    }
}

/// A task's membership of its group: registered while the task's future (or closure) lives.
pub(crate) struct Membership {
    shared: Arc<Shared>,
    id: u64,
    _tracked: TaskTrackerToken,
}

impl Membership {
    /// The id the group knows this task by.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Records how the task ended (a panic is named in the next shutdown report).
    pub(crate) fn finished<T>(&self, result: &Result<T, Panicked>) {
        if let Err(panicked) = result {
            let mut state = self.shared.state();
            let site = panicked.site();
            match state.panicked.iter_mut().find(|p| p.site() == site) {
                Some(summary) => summary.add(panicked),
                None => state.panicked.push(PanicSummary::new(panicked)),
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.state().running.remove(&self.id);
    }
}

impl TaskGroup {
    /// An empty group. Needs no runtime until a task is spawned into it.
    ///
    /// ```
    /// let group = mruntime::TaskGroup::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            tracker: TaskTracker::new(),
            token: CancellationToken::new(),
            state: Mutex::new(State::default()),
        });
        TaskGroup {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// A builder for a task in this group: `Task::new(component, name).group(self)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let group = mruntime::TaskGroup::new();
    /// let handle = group.task("ledger", "reconcile").spawn(|ctx| async move { ctx.name() });
    /// assert_eq!(handle.await.unwrap(), "reconcile");
    /// # }
    /// ```
    pub fn task(&self, component: &'static str, name: &'static str) -> Task {
        Task::new(component, name).group(self)
    }

    /// A root context cancelled by this group's shutdown (or the drop of its last handle): pass
    /// it as the parent of tasks outside the group, or to code that should stop with the group.
    /// Each call makes a new child of the group's token, so cancelling it cancels only what was
    /// started under it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let group = mruntime::TaskGroup::new();
    /// let ctx = group.context();
    /// let _ = group.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert!(ctx.is_cancelled());
    /// # }
    /// ```
    pub fn context(&self) -> TaskContext {
        TaskContext::from_token(self.owner.shared.token.child_token())
    }

    /// The tasks running now, by site (component, name, policy), in the order they were spawned:
    /// the goroutine-leak check. A supervised task is listed once, during its backoffs too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let group = mruntime::TaskGroup::new();
    /// let _worker = group.task("cache", "refresher").spawn(|ctx| async move { ctx.cancelled().await });
    /// let names: Vec<_> = group.active().iter().map(|s| (s.component(), s.name())).collect();
    /// assert_eq!(names, [("cache", "refresher")]);
    /// # }
    /// ```
    pub fn active(&self) -> Vec<Site> {
        let state = self.owner.shared.state();
        state.running.values().map(|r| r.site).collect()
    }

    /// How many tasks are running now.
    pub fn len(&self) -> usize {
        self.owner.shared.state().running.len()
    }

    /// Whether no task is running now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the group's shutdown has started (or its last handle was dropped).
    pub fn is_shut_down(&self) -> bool {
        self.owner.shared.state().closed
    }

    /// Stops the group: cancels every task's context (supervised tasks stop restarting, and one
    /// sleeping in its backoff ends at once), waits until every task has ended or `deadline` has
    /// passed, aborts the tasks still running, and reports.
    ///
    /// It does not wait for aborted tasks to end. Calling it again reports what happened since.
    /// Call it from outside the group: a task of the group that shuts its own group down waits
    /// for itself until the deadline, and is then aborted with the others.
    ///
    /// The deadline is kept by tokio's timer, so it follows a paused clock. On a runtime built
    /// without the time driver (no `enable_time` / `enable_all`), where tokio's timers panic
    /// with "timers are disabled", it is kept instead by a thread of mruntime's own on the real
    /// clock (ended as soon as the shutdown is over): the shutdown behaves the same. If no
    /// thread can be started either, the deadline counts as passed at once: the tasks still
    /// running are aborted and named in [`not_stopped`](ShutdownReport::not_stopped).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let group = mruntime::TaskGroup::new();
    /// let _worker = group.task("delivery", "processor").spawn(|ctx| async move { ctx.cancelled().await });
    /// let _poller = group.task("legacy", "poller").spawn(|_ctx| async move {
    ///     loop { tokio::time::sleep(Duration::from_secs(1)).await } // ignores cancellation
    /// });
    ///
    /// let report = group.shutdown(Duration::from_secs(30)).await;
    /// let stuck: Vec<_> = report.not_stopped().iter().map(|s| s.name()).collect();
    /// assert_eq!(stuck, ["poller"]);
    /// assert_eq!(report.elapsed(), Duration::from_secs(30));
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        let shared = &self.owner.shared;
        // Its health components stop, and a shutdown never fails them.
        for site in self.active() {
            crate::health::registry::stopping(&site);
        }
        shared.close();
        let stopped = match timer(deadline) {
            Timer::Tokio(sleep) => race(shared.tracker.wait(), sleep).await,
            Timer::Thread(expired) => race(shared.tracker.wait(), expired).await,
            Timer::None => shared.tracker.is_empty(),
        };
        let not_stopped = if stopped {
            Vec::new()
        } else {
            shared.abort_running()
        };
        let panicked = std::mem::take(&mut shared.state().panicked);
        // Sampling windows with suppressed panics end with the group: their summaries now.
        crate::telemetry::end_sampling_windows();
        ShutdownReport {
            not_stopped,
            panicked,
            deadline,
            elapsed: started.elapsed(),
        }
    }

    /// A child of the group's token, for a task spawned into it without a parent context.
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.owner.shared.token.child_token()
    }

    /// Registers a task under `site` whose context has `token`; a task joining a group that is
    /// shutting down is cancelled at once.
    pub(crate) fn join(&self, site: &Site, token: CancellationToken) -> Membership {
        let shared = &self.owner.shared;
        let id = {
            let mut state = shared.state();
            if state.closed {
                token.cancel();
            }
            let id = state.next_id;
            state.next_id += 1;
            state.running.insert(
                id,
                Running {
                    site: *site,
                    token,
                    abort: None,
                    abort_requested: false,
                },
            );
            id
        };
        Membership {
            shared: shared.clone(),
            id,
            _tracked: shared.tracker.token(),
        }
    }

    /// Gives the group the abort handle of the task registered as `membership_id`, once it is
    /// spawned (or aborts it at once, if the shutdown already asked for it).
    pub(crate) fn set_abort_handle(&self, membership_id: u64, abort: AbortHandle) {
        let mut state = self.owner.shared.state();
        if let Some(running) = state.running.get_mut(&membership_id) {
            if running.abort_requested {
                abort.abort();
            }
            running.abort = Some(abort);
        }
    }
}

/// What keeps a shutdown's deadline.
enum Timer {
    /// tokio's timer (it follows a paused clock).
    Tokio(tokio::time::Sleep),
    /// No time driver: a thread of mruntime's sends when the deadline passes on the real clock,
    /// and ends early when the receiver is dropped (the shutdown is over).
    Thread(ThreadTimer),
    /// Neither: the deadline counts as passed at once.
    None,
}

/// tokio's timer if the runtime has its time driver, else a thread that keeps the deadline.
/// There is no public query for the time driver: creating a `Sleep` without it panics, so the
/// probe catches that panic, silenced (it is no fault of anyone's).
fn timer(deadline: Duration) -> Timer {
    crate::guard::install_panic_hook();
    if let Ok(sleep) = Silenced::run(|| tokio::time::sleep(deadline)) {
        return Timer::Tokio(sleep);
    }
    let (expired, on_expiry) = tokio::sync::oneshot::channel::<()>();
    let (done, on_done) = mpsc::channel::<()>();
    let started = crate::spawn::thread("mruntime-shutdown-deadline", move || {
        if let Err(RecvTimeoutError::Timeout) = on_done.recv_timeout(deadline) {
            let _ = expired.send(());
        }
    });
    match started {
        Ok(()) => Timer::Thread(ThreadTimer {
            on_expiry,
            _done: done,
        }),
        Err(_) => Timer::None,
    }
}

/// The thread's side of [`Timer::Thread`]: ready when the deadline passed.
struct ThreadTimer {
    on_expiry: tokio::sync::oneshot::Receiver<()>,
    /// Dropped with the timer, which wakes the thread to end.
    _done: mpsc::Sender<()>,
}

impl Future for ThreadTimer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        Pin::new(&mut self.on_expiry).poll(cx).map(drop)
    }
}

/// `true` if `work` ends before `deadline` does.
async fn race(work: impl Future<Output = ()>, deadline: impl Future<Output = ()>) -> bool {
    let mut work = pin!(work);
    let mut deadline = pin!(deadline);
    poll_fn(|cx| {
        if work.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else if deadline.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await
}

impl Default for TaskGroup {
    /// [`TaskGroup::new`].
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.owner.shared.state();
        f.debug_struct("TaskGroup")
            .field("active", &state.running.len())
            .field("shut_down", &state.closed)
            .finish()
    }
}
