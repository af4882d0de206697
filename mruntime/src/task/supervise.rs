//! Supervision: run a task's attempts, each guarded in its own span, restarting after a panic
//! with backoff until the restart intensity is exceeded or the task is cancelled.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use tokio::time::Instant;

use crate::guard::{DropGuarded, Recovery, apply_policy, catch_as};
use crate::health::registry::{TaskEnd, TaskHealth};
use crate::panic::Panicked;
use crate::policy::{Intensity, RestartPolicy, Verdict};
use crate::site::{AsSite, Site};
use crate::task::TaskContext;
use crate::task::spawn::spawn_blocking_prepared;
use crate::telemetry;

/// The supervisor's state between attempts.
struct Supervisor {
    restart: RestartPolicy,
    intensity: Intensity,
    ctx: TaskContext,
    attempt: u32,
}

impl Supervisor {
    fn new(restart: RestartPolicy, ctx: TaskContext) -> Self {
        Supervisor {
            restart,
            intensity: Intensity::for_task(restart),
            ctx,
            attempt: 1,
        }
    }

    /// After attempt `self.attempt`, started at `started`, ended with `panicked` (already
    /// reported): `Ok(())` to run the next attempt (after the backoff), `Err` to end the task.
    async fn after_panic(
        &mut self,
        site: &Site,
        panicked: Panicked,
        started: Instant,
        health: &mut Option<TaskHealth>,
    ) -> Result<(), Panicked> {
        if self.ctx.is_cancelled() {
            // Shutting down: no restart, and no give-up either (the policy does not apply).
            return Err(panicked);
        }
        let now = Instant::now();
        match self
            .intensity
            .on_panic(now, now.saturating_duration_since(started))
        {
            Verdict::GiveUp => {
                // Not ready before anyone learns of the give-up (the handle, the event).
                if let Some(health) = health.take() {
                    health.ended(TaskEnd::Failed(panicked.message()));
                }
                // Under `CrashProcess` the give-up event is the crash's last words: it runs under
                // the crash deadline, so a subscriber that hangs there cannot keep the process up.
                let restart = self.restart;
                apply_policy(&panicked, || telemetry::gave_up(&panicked, &restart));
                Err(panicked)
            }
            Verdict::Restart(backoff) => {
                let next = self.attempt.saturating_add(1);
                if let Some(health) = health.as_ref() {
                    health.restarting(next, panicked.message());
                }
                let slept = self
                    .ctx
                    .token()
                    .run_until_cancelled(tokio::time::sleep(backoff))
                    .await;
                if slept.is_none() {
                    // Cancelled during the backoff: stop at once, and count no restart.
                    return Err(panicked);
                }
                self.attempt = next;
                if let Some(health) = health.as_ref() {
                    health.serving();
                }
                telemetry::restarted(site, self.attempt, backoff);
                Ok(())
            }
        }
    }
}

/// Runs the futures `factory` makes, one per attempt, as the supervised task under `site`. Must
/// be polled inside the task's span: each attempt's span is a child of the current span.
///
/// `health` is the task's health component (its drop, if the task is aborted, says `Stopped`).
pub(crate) async fn supervise<S, F, Fut>(
    site: S,
    restart: RestartPolicy,
    ctx: TaskContext,
    factory: F,
    health: TaskHealth,
) -> Result<Fut::Output, Panicked>
where
    S: AsSite,
    F: FnMut(TaskContext) -> Fut,
    Fut: Future,
{
    let site = site.site();
    // The factory (and what its closure captured) is dropped in a guard too, when the task ends
    // or is aborted.
    let mut factory = DropGuarded::new(site, Recovery::Guard, factory);
    let mut supervisor = Supervisor::new(restart, ctx);
    let mut health = Some(health);
    loop {
        let attempt = supervisor.attempt;
        let started = Instant::now();
        let ctx = supervisor.ctx.for_attempt(attempt);
        let outcome = run_attempt(site, attempt, || factory.get_mut()(ctx)).await;
        match outcome {
            Ok(output) => return Ok(output),
            Err(panicked) => {
                supervisor
                    .after_panic(site, panicked, started, &mut health)
                    .await?
            }
        }
    }
}

/// One attempt: the future is made and polled in the attempt's span, each step guarded; a panic
/// is reported with the attempt number and its policy is left to the supervisor.
async fn run_attempt<Fut: Future>(
    site: &Site,
    attempt: u32,
    make: impl FnOnce() -> Fut,
) -> Result<Fut::Output, Panicked> {
    let span = telemetry::attempt_span(site, attempt);
    let recovery = Recovery::Attempt(attempt);
    let future = span.in_scope(|| catch_as(site, recovery, make))?;
    // Dropped inside the guard too (the task aborted at an `.await` of this attempt).
    let mut future = pin!(DropGuarded::new(site, recovery, future));
    poll_fn(|cx| {
        let _entered = span.enter();
        match catch_as(site, recovery, || future.as_mut().poll(cx)) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panicked) => Poll::Ready(Err(panicked)),
        }
    })
    .await
}

/// [`supervise`] for a blocking body: each attempt runs on tokio's blocking pool, the
/// supervisor (and its backoff) on the runtime.
pub(crate) async fn supervise_blocking<S, F, T>(
    site: S,
    restart: RestartPolicy,
    ctx: TaskContext,
    body: F,
    health: TaskHealth,
) -> Result<T, Panicked>
where
    S: AsSite + Copy,
    F: FnMut(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    // The body goes to the blocking pool and back each attempt; it is dropped in a guard when
    // the task ends, or by the runtime if a job never starts.
    let mut body = DropGuarded::new(site.static_site(), Recovery::Guard, body);
    let mut supervisor = Supervisor::new(restart, ctx);
    let mut health = Some(health);
    loop {
        let attempt = supervisor.attempt;
        let started = Instant::now();
        let ctx = supervisor.ctx.for_attempt(attempt);
        let span = telemetry::attempt_span(site.site(), attempt);
        let job = spawn_blocking_prepared(move || {
            let outcome = span.in_scope(|| {
                catch_as(site.site(), Recovery::Attempt(attempt), || {
                    body.get_mut()(ctx)
                })
            });
            (body, outcome)
        });
        let outcome = match job.await {
            Ok((returned, outcome)) => {
                body = returned;
                outcome
            }
            Err(error) => match error.try_into_panic() {
                // The guard catches the body's panics; anything else is a bug worth propagating.
                Ok(payload) => std::panic::resume_unwind(payload),
                // Only a runtime shutting down cancels a blocking job (before it starts), and it
                // drops this supervisor with it.
                Err(_) => return std::future::pending().await,
            },
        };
        match outcome {
            Ok(output) => return Ok(output),
            Err(panicked) => {
                supervisor
                    .after_panic(site.site(), panicked, started, &mut health)
                    .await?
            }
        }
    }
}
