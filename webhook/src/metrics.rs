//! Prometheus metrics of the webhook: reviews by kind, operation and verdict, review latency,
//! cache state and certificate reloads, in the OpenMetrics text format.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::facts::CacheState;
use crate::review::{Endpoint, Outcome};

/// Labels of `protect_webhook_reviews_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
    /// Kind under review.
    pub kind: String,
    /// Operation under review.
    pub operation: &'static str,
    /// `allowed`, `patched`, `denied`, `invalid`.
    pub verdict: &'static str,
}

/// Labels of `protect_webhook_review_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
}

/// Labels of `protect_webhook_cache_synced`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// e.g. `quorum/policies`.
    pub cache: String,
}

/// Labels of `protect_webhook_cert_reloads_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `success` or `failure`.
    pub result: &'static str,
}

/// The webhook's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    cache_synced: Family<CacheLabels, Gauge>,
    cert_reloads: Family<ReloadLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~6.5 s: the common path is sub-millisecond, a cache miss up to the deadline.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("protect_webhook");
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "reviews",
            "AdmissionReviews answered, by endpoint, kind, operation and verdict",
            reviews.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "review_duration_seconds",
            "Time to answer one AdmissionReview, from body read to response",
            latency.clone(),
        );
        let cache_synced = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_synced",
            "1 when the cache has completed its initial list, else 0",
            cache_synced.clone(),
        );
        let cert_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "cert_reloads",
            "Serving certificate reloads after the files changed, by result",
            cert_reloads.clone(),
        );
        Self {
            registry,
            reviews,
            latency,
            cache_synced,
            cert_reloads,
        }
    }
}

impl Metrics {
    /// Count one answered review and its latency.
    pub fn observe_review(&self, endpoint: Endpoint, outcome: &Outcome, elapsed: Duration) {
        self.reviews
            .get_or_create(&ReviewLabels {
                endpoint: endpoint.as_str(),
                kind: outcome.kind.clone(),
                operation: outcome.operation,
                verdict: outcome.verdict,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Count one certificate reload attempt.
    pub fn observe_cert_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.cert_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
    }

    /// The text exposition, with cache state taken at scrape time.
    pub fn render(&self, caches: &[CacheState]) -> String {
        for state in caches {
            self.cache_synced
                .get_or_create(&CacheLabels {
                    cache: state.cache.clone(),
                })
                .set(i64::from(state.synced));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Shared metrics.
pub type SharedMetrics = Arc<Metrics>;
