//! The HTTP endpoints beside the controller: `/metrics` (Prometheus text) and `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// The router, exposed so tests drive it without a socket.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

/// Serve the router on `addr` until the task is dropped.
///
/// # Errors
/// When `addr` cannot be bound or serving fails.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    axum::serve(listener, router(metrics)).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_text(path: &str, metrics: Arc<Metrics>) -> (StatusCode, String) {
        let response = router(metrics)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_answers_ok_and_metrics_lists_the_reconcile_counter() {
        let metrics = Arc::new(Metrics::default());
        metrics.reconciled();
        assert_eq!(
            get_text("/healthz", metrics.clone()).await,
            (StatusCode::OK, "ok".to_owned())
        );
        let (status, body) = get_text("/metrics", metrics).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("protect_controller_reconciles_total 1"),
            "{body}"
        );
    }
}
