//! A tracing layer that keeps every event (with its span scope) and every span (with its parent).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

/// A span as the subscriber saw it.
#[derive(Debug, Clone)]
pub struct CapturedSpan {
    pub id: u64,
    pub name: &'static str,
    pub parent: Option<u64>,
    pub fields: BTreeMap<String, String>,
}

/// An event with the spans it happened in (innermost first).
#[derive(Debug, Clone)]
pub struct CapturedEvent {
    pub level: tracing::Level,
    pub target: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub scope: Vec<CapturedSpan>,
}

impl CapturedEvent {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The field `name` as a number; panics, naming the event, when it is missing or not one.
    pub fn field_u64(&self, name: &str) -> u64 {
        self.field(name)
            .unwrap_or_else(|| panic!("no field {name} in {self:#?}"))
            .parse()
            .unwrap_or_else(|e| panic!("field {name} of {self:#?} is not a number: {e}"))
    }
}

#[derive(Default)]
struct Store {
    events: Vec<CapturedEvent>,
    spans: Vec<CapturedSpan>,
}

/// Captures what mruntime reports through `tracing`.
#[derive(Clone)]
pub struct Capture {
    store: Arc<Mutex<Store>>,
    dispatch: Dispatch,
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

/// Tests in one binary run on parallel threads, each with its own thread-local subscriber. A
/// callsite first hit on a thread with no subscriber may have its interest cached as "never"
/// while another thread registers a capture (a race in tracing-core's interest cache), silently
/// losing events. A global registry, interested in everything and keeping nothing, rules that out.
fn install_global_registry() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Registry::default());
    });
}

impl Capture {
    pub fn new() -> Self {
        install_global_registry();
        let store = Arc::new(Mutex::new(Store::default()));
        let layer = CaptureLayer {
            store: store.clone(),
        };
        let dispatch = Dispatch::new(Registry::default().with(layer));
        Capture { store, dispatch }
    }

    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// Makes this capture the current thread's subscriber until the guard drops.
    pub fn set_default(&self) -> tracing::dispatcher::DefaultGuard {
        tracing::dispatcher::set_default(&self.dispatch)
    }

    /// A current-thread runtime; call `set_default` on the test thread too.
    pub fn current_thread_runtime(&self) -> tokio::runtime::Runtime {
        self.builder(tokio::runtime::Builder::new_current_thread())
    }

    /// A multi-thread runtime whose workers and blocking threads all report to this capture.
    pub fn multi_thread_runtime(&self, workers: usize) -> tokio::runtime::Runtime {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        self.builder(builder)
    }

    /// A runtime from `builder` (configured by the test: `start_paused`, say) with every driver
    /// enabled and every thread reporting to this capture.
    /// A current-thread runtime on tokio's paused clock (time only moves when every task waits).
    pub fn paused_runtime(&self) -> tokio::runtime::Runtime {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.start_paused(true);
        self.runtime(builder)
    }

    pub fn runtime(&self, builder: tokio::runtime::Builder) -> tokio::runtime::Runtime {
        self.builder(builder)
    }

    /// Events whose message is `message`.
    pub fn events_named(&self, message: &str) -> Vec<CapturedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.message == message)
            .collect()
    }

    /// The number in field `field` of every event with message `message`, in order (the backoffs
    /// of `task.restarting`, the attempts of `panic.recovered`, ...).
    pub fn u64_fields(&self, message: &str, field: &str) -> Vec<u64> {
        self.events_named(message)
            .iter()
            .map(|e| e.field_u64(field))
            .collect()
    }

    /// Spans named `name`, in creation order.
    pub fn spans_named(&self, name: &str) -> Vec<CapturedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    fn builder(&self, mut builder: tokio::runtime::Builder) -> tokio::runtime::Runtime {
        let dispatch = self.dispatch.clone();
        builder
            .enable_all()
            .on_thread_start(move || {
                // The guard is forgotten on purpose: the thread keeps this subscriber for life.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .expect("test runtime")
    }

    pub fn events(&self) -> Vec<CapturedEvent> {
        self.store.lock().unwrap().events.clone()
    }

    /// Events whose message is `panic.recovered`.
    pub fn panic_events(&self) -> Vec<CapturedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.message == "panic.recovered")
            .collect()
    }

    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.store.lock().unwrap().spans.clone()
    }

    pub fn span(&self, id: u64) -> Option<CapturedSpan> {
        self.spans().into_iter().find(|s| s.id == id)
    }
}

struct CaptureLayer {
    store: Arc<Mutex<Store>>,
}

#[derive(Default)]
struct FieldMap(BTreeMap<String, String>);

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = FieldMap::default();
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        let span = CapturedSpan {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields: fields.0.clone(),
        };
        if let Some(s) = ctx.span(id) {
            s.extensions_mut().insert(fields);
        }
        self.store.lock().unwrap().spans.push(span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(s) = ctx.span(id)
            && let Some(fields) = s.extensions_mut().get_mut::<FieldMap>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|s| CapturedSpan {
                        id: s.id().into_u64(),
                        name: s.metadata().name(),
                        parent: s.parent().map(|p| p.id().into_u64()),
                        fields: s
                            .extensions()
                            .get::<FieldMap>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.store.lock().unwrap().events.push(CapturedEvent {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
            fields: fields.0,
            scope,
        });
    }
}
