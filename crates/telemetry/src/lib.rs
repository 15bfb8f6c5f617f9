//! One place that sets up logging and tracing for every service.
//!
//! Every span is also an OpenTelemetry span, so the W3C `traceparent` of the
//! current span can be injected into outgoing HTTP and Kafka headers and a
//! consumer continues the producer's trace. Export (OTLP/HTTP) is optional;
//! propagation works without it.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use settings::{LogFormat, TelemetrySettings};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use opentelemetry::Context as TraceContext;

/// Flushes spans still buffered when dropped at shutdown.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Install the global subscriber. Call once, first thing in `main`.
pub fn init(service: &'static str, settings: &TelemetrySettings) -> TelemetryGuard {
    let provider = tracer_provider(service, settings);
    let tracer = provider.tracer(service);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    // The log filter applies to the log output only: spans still reach the
    // OpenTelemetry layer, so trace context propagates whatever the log level.
    let _ = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO),
        )
        .try_init();
    TelemetryGuard { provider }
}

/// For tests: quiet unless `TEST_LOG` is set; safe to call many times.
pub fn init_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        let filter = if std::env::var_os("TEST_LOG").is_some() {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        } else {
            EnvFilter::new("off")
        };
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .compact()
                    .with_filter(filter),
            )
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(LevelFilter::INFO),
            )
            .try_init();
        // Keep the provider alive for the life of the test process.
        std::mem::forget(provider);
    });
}

fn tracer_provider(service: &'static str, settings: &TelemetrySettings) -> SdkTracerProvider {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    // Parent-based: the gateway (or whoever starts a trace) decides once, and
    // every service down the line, over HTTP and Kafka, follows that decision.
    let ratio = settings.sample_ratio.clamp(0.0, 1.0);
    let sampler = opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
        opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(ratio),
    ));
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler);
    if let Some(endpoint) = settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        use opentelemetry_otlp::WithExportConfig;
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            // Tracing export is optional: say so and carry on without it.
            Err(e) => eprintln!("{service}: OTLP exporter disabled: {e}"),
        }
    }
    builder.build()
}

/// Write the current span's trace context into outgoing headers.
pub fn inject_current(carrier: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, carrier);
}

/// Read a trace context from incoming headers.
pub fn extract(carrier: &dyn Extractor) -> TraceContext {
    TraceContextPropagator::new().extract(carrier)
}

/// Make `span` a child of the remote context carried in `carrier`.
pub fn set_parent_from(span: &tracing::Span, carrier: &dyn Extractor) {
    span.set_parent(extract(carrier));
}

/// Link `span` to the remote context carried in `carrier` (one span serving
/// many traces, e.g. a consumer's batch: its parent is one message's trace,
/// the others are links). Nothing happens when the carrier has no context.
pub fn add_link_from(span: &tracing::Span, carrier: &dyn Extractor) {
    use opentelemetry::trace::TraceContextExt as _;
    let context = extract(carrier);
    let remote = context.span().span_context().clone();
    if remote.is_valid() {
        span.add_link(remote);
    }
}

/// The current span's `traceparent` value, e.g. to log or return it.
pub fn current_traceparent() -> Option<String> {
    let mut map = std::collections::HashMap::new();
    inject_current(&mut map);
    map.remove("traceparent")
}

pub use opentelemetry::propagation::{Extractor as HeaderExtractor, Injector as HeaderInjector};
