//! Real OpenTelemetry pipelines for tests: in-memory exporters, and file exporters for the crash
//! tests (whose process dies before anything in memory could be read).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Attributes of a data point or an event, as strings.
pub type Attrs = BTreeMap<String, String>;

/// The attributes of a `panic_recovered_total` point.
pub fn panic_labels(component: &str, name: &str, policy: &str) -> Attrs {
    [
        ("component", component),
        ("goroutine_name", name),
        ("policy", policy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn attrs<'a>(kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> Attrs {
    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

/// A meter provider exporting to memory.
pub struct Metrics {
    pub provider: SdkMeterProvider,
    pub exporter: InMemoryMetricExporter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let reader = PeriodicReader::builder(exporter.clone()).build();
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        Metrics { provider, exporter }
    }

    /// Flushes, then the latest value of every point of the u64 sum `name`, by attributes.
    pub fn u64_sum(&self, name: &str) -> Vec<(Attrs, u64)> {
        self.provider.force_flush().expect("flush metrics");
        let exported = self.exporter.get_finished_metrics().expect("metrics");
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        sum_points(last, name)
    }

    /// Flushes, then the latest value of every point of the i64 sum `name`, by attributes.
    pub fn i64_sum(&self, name: &str) -> Vec<(Attrs, i64)> {
        self.latest_points(name, |data| match data {
            AggregatedMetrics::I64(MetricData::Sum(sum)) => sum
                .data_points()
                .map(|p| (attrs(p.attributes()), p.value()))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Flushes, then the latest value of every point of the u64 gauge `name`, by attributes.
    pub fn u64_gauge(&self, name: &str) -> Vec<(Attrs, u64)> {
        self.latest_points(name, |data| match data {
            AggregatedMetrics::U64(MetricData::Gauge(gauge)) => gauge
                .data_points()
                .map(|p| (attrs(p.attributes()), p.value()))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Flushes, then the points `points_of` reads from the latest export of the instrument
    /// `name`, sorted.
    fn latest_points<T: Ord>(
        &self,
        name: &str,
        points_of: impl Fn(&AggregatedMetrics) -> Vec<(Attrs, T)>,
    ) -> Vec<(Attrs, T)> {
        self.provider.force_flush().expect("flush metrics");
        let exported = self.exporter.get_finished_metrics().expect("metrics");
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        let mut points: Vec<(Attrs, T)> = last
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|metric| metric.name() == name)
            .flat_map(|metric| points_of(metric.data()))
            .collect();
        points.sort();
        points
    }

    /// Description and unit of the instrument `name`, if exported.
    pub fn describe(&self, name: &str) -> Option<(String, String)> {
        self.provider.force_flush().expect("flush metrics");
        let exported = self.exporter.get_finished_metrics().expect("metrics");
        let last = exported.last()?;
        last.scope_metrics()
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == name)
            .map(|m| (m.description().to_owned(), m.unit().to_owned()))
    }
}

fn sum_points(metrics: &ResourceMetrics, name: &str) -> Vec<(Attrs, u64)> {
    let mut points = Vec::new();
    for metric in metrics.scope_metrics().flat_map(|s| s.metrics()) {
        if metric.name() != name {
            continue;
        }
        if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
            for p in sum.data_points() {
                points.push((attrs(p.attributes()), p.value()));
            }
        }
    }
    points.sort();
    points
}

/// A tracing subscriber with a tracing-opentelemetry layer, exporting finished spans to memory.
pub struct Traces {
    pub provider: SdkTracerProvider,
    pub exporter: InMemorySpanExporter,
    pub dispatch: Dispatch,
}

impl Default for Traces {
    fn default() -> Self {
        Self::new()
    }
}

impl Traces {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("mruntime-tests");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        Traces {
            provider,
            exporter,
            dispatch: Dispatch::new(subscriber),
        }
    }

    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("spans")
    }

    pub fn span_named(&self, name: &str) -> SpanData {
        self.spans()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no exported span named {name}: {:#?}", self.spans()))
    }
}

/// The attributes of the event `name` of `span`.
pub fn event_attrs(span: &SpanData, name: &str) -> Option<Attrs> {
    span.events
        .iter()
        .find(|e| e.name == name)
        .map(|e| attrs(e.attributes.iter()))
}

/// Appends one line per exported span to a file: `span <name> status=<status> events=<names>`
/// and one line per event attribute, so a test can read it after the process died.
#[derive(Debug, Clone)]
pub struct FileSpanExporter {
    file: Arc<Mutex<File>>,
}

impl FileSpanExporter {
    pub fn create(path: &Path) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("span file");
        FileSpanExporter {
            file: Arc::new(Mutex::new(file)),
        }
    }
}

impl SpanExporter for FileSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut file = self.file.lock().unwrap();
        for span in batch {
            let events: Vec<_> = span.events.iter().map(|e| e.name.to_string()).collect();
            writeln!(
                file,
                "span {} status={:?} events={}",
                span.name,
                span.status,
                events.join(",")
            )
            .unwrap();
            for e in span.events.iter() {
                for kv in &e.attributes {
                    writeln!(
                        file,
                        "  event {} {}={}",
                        e.name,
                        kv.key,
                        kv.value.as_str().replace('\n', "\\n")
                    )
                    .unwrap();
                }
            }
        }
        file.sync_all().unwrap();
        Ok(())
    }
}

/// Appends every exported u64 sum point to a file: `metric <name> <attrs> <value>`.
#[derive(Debug, Clone)]
pub struct FileMetricExporter {
    file: Arc<Mutex<File>>,
}

impl FileMetricExporter {
    pub fn create(path: &Path) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("metric file");
        FileMetricExporter {
            file: Arc::new(Mutex::new(file)),
        }
    }
}

impl PushMetricExporter for FileMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut file = self.file.lock().unwrap();
        for metric in metrics.scope_metrics().flat_map(|s| s.metrics()) {
            for (attrs, value) in sum_points(metrics, metric.name()) {
                writeln!(file, "metric {} {:?} {}", metric.name(), attrs, value).unwrap();
            }
        }
        file.sync_all().unwrap();
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}
