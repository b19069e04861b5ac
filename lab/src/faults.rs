//! Fault injection per cluster (LAB.md item 17): what a controller must survive on a real
//! control plane, switched on and off from tests.
//!
//! - **pause**: requests (and events on open watches) wait until resumed, as behind a stalled
//!   apiserver;
//! - **errors**: 500 / 503 / 429 (with `Retry-After`) / 504 / 409 answered as the upstream
//!   `metav1.Status` instead of the cluster, by rate, verb, resource and count;
//! - **latency** added before the cluster answers;
//! - **dropped watches**: open watch streams end now, or after N events each (clients resume
//!   from the last resourceVersion they saw, as after an apiserver restart);
//! - **forced 410 expiry**: the event window is forgotten and open watches end, so resuming
//!   watchers get the in-stream 410 Expired and relist;
//! - **partition**: new connections are reset, existing ones (watches included) are cut, so
//!   clients see transport errors until [`Faults::heal`].
//!
//! Probabilities come from one seeded generator per cluster ([`Faults::seed`], default seed 0),
//! drawn in request order, so a sequential client sees the same faults on every run. Every
//! injected fault is counted ([`Faults::counts`], [`Faults::until`]) and injected responses are
//! marked in the request log ([`crate::RequestRecord::injected`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use futures::StreamExt;
use protect_lab_apimachinery::status;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::cluster::ClusterState;
use crate::respond::{self, ApiError, Encoding};

/// The store bucket [`Faults::expire_watches`] writes to advance the clock; no resource
/// type serves it.
const EXPIRY_BUCKET: &str = "protect-lab.faults/expiry";

/// A request as fault filters see it: the apiserver's RequestInfo, reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`; for
    /// non-resource paths (`/version`, discovery, OpenAPI) the lowercased method.
    pub verb: String,
    /// The API group ("" for core and for non-resource paths).
    pub group: String,
    /// The plural resource; None for non-resource paths.
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub name: Option<String>,
}

impl RequestInfo {
    /// Resolves a request line like the apiserver's RequestInfoFactory.
    pub fn parse(method: &Method, uri: &Uri) -> Self {
        let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest): (&str, &[&str]) = match segs.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (group, rest),
            _ => ("", &[]),
        };
        let rest: &[&str] = match rest {
            ["namespaces", _ns, tail @ ..]
                if tail
                    .first()
                    .is_some_and(|next| !matches!(*next, "status" | "finalize")) =>
            {
                tail
            }
            _ => rest,
        };
        let watch = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|kv| matches!(kv, "watch=true" | "watch=1"));
        let (resource, name, subresource) = match rest {
            [plural] => (Some(*plural), None, None),
            [plural, name] => (Some(*plural), Some(*name), None),
            [plural, name, sub] => (Some(*plural), Some(*name), Some(*sub)),
            _ => (None, None, None),
        };
        let verb = match (resource.is_some(), method.as_str(), name.is_some()) {
            (false, m, _) => m.to_lowercase(),
            (true, "GET", _) if watch => "watch".into(),
            (true, "GET", true) => "get".into(),
            (true, "GET", false) => "list".into(),
            (true, "POST", _) => "create".into(),
            (true, "PUT", _) => "update".into(),
            (true, "PATCH", _) => "patch".into(),
            (true, "DELETE", true) => "delete".into(),
            (true, "DELETE", false) => "deletecollection".into(),
            (true, m, _) => m.to_lowercase(),
        };
        RequestInfo {
            verb,
            group: if resource.is_some() {
                group.to_string()
            } else {
                String::new()
            },
            resource: resource.map(str::to_string),
            subresource: subresource.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    /// Whether an optimistic-concurrency 409 Conflict can answer this request: a write to a
    /// named object (update, patch, delete).
    pub fn can_conflict(&self) -> bool {
        self.name.is_some() && matches!(self.verb.as_str(), "update" | "patch" | "delete")
    }

    fn is_watch(&self) -> bool {
        self.verb == "watch"
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// Answer with one of these codes (chosen with the seeded generator).
    Error(Vec<u16>),
    Latency(Duration),
}

/// One fault and the requests it applies to. Build with [`Rule::error`], [`Rule::conflict`] or
/// [`Rule::latency`], narrow with [`Rule::verbs`], [`Rule::resources`],
/// [`Rule::probability`], [`Rule::times`], and install with [`Faults::inject`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    action: Action,
    verbs: Vec<String>,
    resources: Vec<String>,
    probability: f64,
    times: Option<u64>,
}

impl Rule {
    /// Answer with one of `codes` (400-599; others are ignored) as the upstream Status:
    /// 500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests with `Retry-After`,
    /// 504 Timeout, 409 Conflict (only on writes to a named object: for other requests 409 is
    /// never chosen).
    pub fn error(codes: &[u16]) -> Self {
        Rule {
            action: Action::Error(
                codes
                    .iter()
                    .copied()
                    .filter(|c| (400..=599).contains(c))
                    .collect(),
            ),
            verbs: Vec::new(),
            resources: Vec::new(),
            probability: 1.0,
            times: None,
        }
    }

    /// The optimistic-concurrency 409 Conflict on updates and patches
    /// (`Operation cannot be fulfilled on …: the object has been modified; …`).
    pub fn conflict() -> Self {
        Rule::error(&[409]).verbs(&["update", "patch"])
    }

    /// Delay matching requests by `delay` before the cluster answers (delays of several
    /// matching rules add up).
    pub fn latency(delay: Duration) -> Self {
        Rule {
            action: Action::Latency(delay),
            ..Rule::error(&[])
        }
    }

    /// Only these verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`).
    pub fn verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = verbs.iter().map(|v| v.to_string()).collect();
        self
    }

    /// Only these resources: `configmaps` (with its subresources), `configmaps/status` (only
    /// the subresource), or qualified `protectionrequests.siterecovery.trilio.io`.
    pub fn resources(mut self, resources: &[&str]) -> Self {
        self.resources = resources.iter().map(|r| r.to_string()).collect();
        self
    }

    /// Applies to a matching request with probability `p` (0.0-1.0, drawn from the cluster's
    /// seeded generator).
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p.clamp(0.0, 1.0);
        self
    }

    /// Applies at most `n` times, then retires.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, info: &RequestInfo) -> bool {
        let verb_ok = self.verbs.is_empty() || self.verbs.contains(&info.verb);
        let resource_ok = self.resources.is_empty()
            || info.resource.as_deref().is_some_and(|plural| {
                self.resources.iter().any(|entry| {
                    let (res, sub) = match entry.split_once('/') {
                        Some((r, s)) => (r, Some(s)),
                        None => (entry.as_str(), None),
                    };
                    let res_ok = res == plural
                        || (!info.group.is_empty() && res == format!("{plural}.{}", info.group));
                    res_ok && sub.is_none_or(|s| info.subresource.as_deref() == Some(s))
                })
            });
        verb_ok && resource_ok && self.times != Some(0)
    }
}

/// How many faults a cluster injected (since start or [`Faults::reset_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests that had to wait for a pause to end.
    pub held: u64,
    /// Requests waiting for a pause to end right now.
    pub waiting: u64,
    /// Watch streams open right now (a gauge: wait for it before cutting watches).
    pub watches_open: u64,
    /// Requests delayed by a latency rule.
    pub delayed: u64,
    /// Injected error answers by HTTP code (409 conflicts included).
    pub errors: BTreeMap<u16, u64>,
    /// Watch streams ended by [`Faults::drop_watches`], [`Faults::drop_watches_after`] or
    /// [`Faults::expire_watches`].
    pub watches_dropped: u64,
    /// Calls of [`Faults::expire_watches`].
    pub expiries: u64,
    /// Connections reset on arrival during a partition.
    pub connections_refused: u64,
    /// Open connections cut by a partition.
    pub connections_severed: u64,
}

impl FaultCounts {
    /// All injected error answers.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Injected error answers with `code`.
    pub fn errors_with(&self, code: u16) -> u64 {
        self.errors.get(&code).copied().unwrap_or(0)
    }
}

struct Rules {
    list: Vec<Rule>,
    rng: StdRng,
    /// Open watch streams end after this many events (BOOKMARKs not counted).
    watch_event_limit: Option<u64>,
    retry_after_seconds: u64,
}

/// What the fault layer decided for one request.
struct Decision {
    delay: Duration,
    error: Option<u16>,
    retry_after_seconds: u64,
}

/// The fault state of one cluster, shared by its request gate and accept loop.
pub struct Injector {
    rules: Mutex<Rules>,
    paused: watch::Sender<bool>,
    partitioned: watch::Sender<bool>,
    /// Bumped to end every open watch stream.
    drop_epoch: watch::Sender<u64>,
    counts: watch::Sender<FaultCounts>,
}

impl Default for Injector {
    fn default() -> Self {
        Injector {
            rules: Mutex::new(Rules {
                list: Vec::new(),
                rng: StdRng::seed_from_u64(0),
                watch_event_limit: None,
                retry_after_seconds: 1,
            }),
            paused: watch::Sender::new(false),
            partitioned: watch::Sender::new(false),
            drop_epoch: watch::Sender::new(0),
            counts: watch::Sender::new(FaultCounts::default()),
        }
    }
}

/// Decrements the `watches_open` gauge when a watch stream ends.
struct OpenWatch(Arc<Injector>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0
            .count(|c| c.watches_open = c.watches_open.saturating_sub(1));
    }
}

/// Decrements the `waiting` count when a held request goes on (or its client gives up).
struct Waiting<'a>(&'a Injector);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.count(|c| c.waiting = c.waiting.saturating_sub(1));
    }
}

impl Injector {
    fn rules(&self) -> MutexGuard<'_, Rules> {
        // Every mutation is a single assignment or push, so a poisoned lock is still usable.
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut FaultCounts)) {
        self.counts.send_modify(f);
    }

    pub fn is_partitioned(&self) -> bool {
        *self.partitioned.borrow()
    }

    /// What every request passes before the cluster sees it: waits out a partition (only
    /// in-process requests get here; connections are cut by the accept loop) and a pause,
    /// sleeps any injected latency, and answers an injected error if one fires.
    pub async fn intercept(&self, info: &RequestInfo) -> Option<Response> {
        let mut partitioned = self.partitioned.subscribe();
        let _ = partitioned.wait_for(|p| !*p).await;
        self.wait_resumed().await;
        let decision = self.decide(info);
        if !decision.delay.is_zero() {
            self.count(|c| c.delayed += 1);
            tokio::time::sleep(decision.delay).await;
        }
        let code = decision.error?;
        self.count(|c| *c.errors.entry(code).or_default() += 1);
        Some(error_response(code, info, decision.retry_after_seconds))
    }

    async fn wait_resumed(&self) {
        let mut paused = self.paused.subscribe();
        if !*paused.borrow_and_update() {
            return;
        }
        self.count(|c| {
            c.held += 1;
            c.waiting += 1;
        });
        let _waiting = Waiting(self);
        let _ = paused.wait_for(|p| !*p).await;
    }

    fn decide(&self, info: &RequestInfo) -> Decision {
        let mut rules = self.rules();
        let Rules {
            list,
            rng,
            retry_after_seconds,
            ..
        } = &mut *rules;
        let mut decision = Decision {
            delay: Duration::ZERO,
            error: None,
            retry_after_seconds: *retry_after_seconds,
        };
        for rule in list.iter_mut() {
            if !rule.matches(info) {
                continue;
            }
            let fires = |rng: &mut StdRng, p: f64| p >= 1.0 || (p > 0.0 && rng.random_bool(p));
            match &rule.action {
                Action::Latency(d) => {
                    if fires(rng, rule.probability) {
                        decision.delay += *d;
                        rule.times = rule.times.map(|n| n.saturating_sub(1));
                    }
                }
                Action::Error(codes) if decision.error.is_none() => {
                    let usable: Vec<u16> = codes
                        .iter()
                        .copied()
                        .filter(|c| *c != 409 || info.can_conflict())
                        .collect();
                    if usable.is_empty() || !fires(rng, rule.probability) {
                        continue;
                    }
                    let pick = if usable.len() == 1 {
                        0
                    } else {
                        rng.random_range(0..usable.len())
                    };
                    decision.error = usable.get(pick).copied();
                    rule.times = rule.times.map(|n| n.saturating_sub(1));
                }
                Action::Error(_) => {}
            }
        }
        list.retain(|r| r.times != Some(0));
        decision
    }

    /// Wraps the body of a watch answer so the stream can be dropped (now or after N events)
    /// and holds events while paused.
    pub fn wrap_watch(self: &Arc<Self>, info: &RequestInfo, response: Response) -> Response {
        if !info.is_watch() || !response.status().is_success() {
            return response;
        }
        struct Stream {
            inner: axum::body::BodyDataStream,
            injector: Arc<Injector>,
            epoch: watch::Receiver<u64>,
            events: u64,
            done: bool,
            _open: OpenWatch,
        }
        let (parts, body) = response.into_parts();
        let mut epoch = self.drop_epoch.subscribe();
        epoch.borrow_and_update();
        let state = Stream {
            inner: body.into_data_stream(),
            injector: self.clone(),
            epoch,
            events: 0,
            done: false,
            _open: OpenWatch(self.clone()),
        };
        self.count(|c| c.watches_open += 1);
        let stream = futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let item = tokio::select! {
                biased;
                changed = st.epoch.changed() => {
                    if changed.is_ok() {
                        st.injector.count(|c| c.watches_dropped += 1);
                    }
                    return None;
                }
                item = st.inner.next() => item?,
            };
            let Ok(bytes) = item else {
                return Some((item, st));
            };
            st.injector.wait_resumed().await;
            if !bytes.starts_with(br#"{"type":"BOOKMARK""#) {
                st.events += 1;
            }
            let limit = st.injector.rules().watch_event_limit;
            if limit.is_some_and(|n| st.events >= n) {
                st.done = true;
                st.injector.count(|c| c.watches_dropped += 1);
            }
            Some((Ok(bytes), st))
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }

    /// Resets a connection that arrives during a partition (RST, no handshake).
    pub fn refuse_if_partitioned(&self, tcp: TcpStream) -> Option<TcpStream> {
        if !self.is_partitioned() {
            return Some(tcp);
        }
        let _ = tcp.set_zero_linger();
        drop(tcp);
        self.count(|c| c.connections_refused += 1);
        None
    }

    /// Runs a connection until it ends or a partition cuts it.
    pub async fn severable(self: Arc<Self>, connection: impl Future<Output = ()>) {
        let mut partitioned = self.partitioned.subscribe();
        let cut = async {
            if partitioned.wait_for(|p| *p).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = connection => {}
            () = cut => self.count(|c| c.connections_severed += 1),
        }
    }
}

/// The upstream Status for an injected error code.
fn error_response(code: u16, info: &RequestInfo, retry_after_seconds: u64) -> Response {
    let body = match code {
        // errors.go NewInternalError
        500 => status::internal_error("protect-lab: injected fault"),
        // errors.go NewServiceUnavailable; the message is what kubectl prints for a bare 503
        503 => status::failure(
            503,
            Some("ServiceUnavailable"),
            "the server is currently unable to handle the request",
        ),
        // errors.go NewTooManyRequests(message, retryAfterSeconds), with the message the
        // apiserver's max-in-flight / priority-and-fairness filters use
        429 => status::failure_with_details(
            429,
            Some("TooManyRequests"),
            "Too many requests, please try again later.",
            Some(json!({ "retryAfterSeconds": retry_after_seconds })),
        ),
        // errors.go NewTimeoutError, as the apiserver's request-timeout filter answers
        504 => status::failure_with_details(
            504,
            Some("Timeout"),
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
            Some(json!({ "retryAfterSeconds": 0 })),
        ),
        // errors.go NewConflict with registry.OptimisticLockErrorMsg
        409 => status::conflict(status::Target {
            resource: info.resource.as_deref().unwrap_or_default(),
            group: &info.group,
            kind: "",
            name: info.name.as_deref().unwrap_or_default(),
        }),
        code => status::failure(code, None, "protect-lab: injected fault"),
    };
    let mut response = respond::error(
        ApiError::status(body),
        Encoding {
            pretty: false,
            yaml: false,
        },
    );
    if code == 429 {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(retry_after_seconds));
    }
    response
}

/// The fault controls of one cluster: `lab.cluster("cluster2")?.faults().partition()`.
/// Cheap to clone; every clone controls the same cluster.
#[derive(Clone)]
pub struct Faults {
    pub(crate) state: Arc<ClusterState>,
}

impl Faults {
    fn injector(&self) -> &Arc<Injector> {
        &self.state.faults
    }

    /// Restarts the generator behind every probability at `seed` (the default seed is 0).
    pub fn seed(&self, seed: u64) -> &Self {
        self.injector().rules().rng = StdRng::seed_from_u64(seed);
        self
    }

    /// Installs a rule (after those already installed; the first error rule that fires
    /// answers, latencies add up).
    pub fn inject(&self, rule: Rule) -> &Self {
        self.injector().rules().list.push(rule);
        self
    }

    /// Answers a fraction `rate` of all requests with one of `codes`, e.g.
    /// `error_rate(0.1, &[500, 503, 429, 409])` (409 only where a conflict is possible).
    pub fn error_rate(&self, rate: f64, codes: &[u16]) -> &Self {
        self.inject(Rule::error(codes).probability(rate))
    }

    /// Answers a fraction `rate` of updates and patches with the upstream 409 Conflict.
    pub fn conflicts(&self, rate: f64) -> &Self {
        self.inject(Rule::conflict().probability(rate))
    }

    /// Adds `delay` before every request is answered.
    pub fn latency(&self, delay: Duration) -> &Self {
        self.inject(Rule::latency(delay))
    }

    /// `Retry-After` / `retryAfterSeconds` of injected 429s (whole seconds, default 1).
    pub fn retry_after(&self, seconds: u64) -> &Self {
        self.injector().rules().retry_after_seconds = seconds;
        self
    }

    /// Holds every request (and every event of open watches) until [`Faults::resume`].
    pub fn pause(&self) -> &Self {
        self.injector().paused.send_replace(true);
        self
    }

    pub fn resume(&self) -> &Self {
        self.injector().paused.send_replace(false);
        self
    }

    pub fn is_paused(&self) -> bool {
        *self.injector().paused.borrow()
    }

    /// Ends every open watch stream now (cleanly: clients resume from the last
    /// resourceVersion they saw).
    pub fn drop_watches(&self) -> &Self {
        self.injector().drop_epoch.send_modify(|e| *e += 1);
        self
    }

    /// Ends each watch stream once it has carried `n` events (BOOKMARKs not counted), for
    /// streams open now and later; `None` stops doing so.
    pub fn drop_watches_after(&self, n: Option<u64>) -> &Self {
        self.injector().rules().watch_event_limit = n;
        self
    }

    /// Forces 410 Expired: forgets the event window and ends open watches, so watchers
    /// resuming from any resourceVersion they saw get the in-stream ERROR 410 and relist.
    ///
    /// The clock first advances (a write to a bucket no resource serves, as other writers
    /// advance a real cluster's revision), so even a watcher that saw the latest change
    /// resumes from before the new window, as after a watch-cache re-initialisation.
    pub fn expire_watches(&self) -> &Self {
        let store = &self.state.store;
        let tick = json!({"metadata": {"name": "expiry"}});
        if store.create(EXPIRY_BUCKET, tick).is_ok() {
            let _ = store.delete(EXPIRY_BUCKET, "", "expiry", None);
        }
        store.expire_history();
        self.injector().count(|c| c.expiries += 1);
        self.drop_watches()
    }

    /// Cuts the cluster off: new connections are reset, open ones (watches included) are
    /// closed mid-stream, until [`Faults::heal`].
    pub fn partition(&self) -> &Self {
        self.injector().partitioned.send_replace(true);
        self
    }

    pub fn heal(&self) -> &Self {
        self.injector().partitioned.send_replace(false);
        self
    }

    pub fn is_partitioned(&self) -> bool {
        self.injector().is_partitioned()
    }

    /// Removes every rule and the watch event limit, resumes and heals (counts and seed stay).
    pub fn clear(&self) -> &Self {
        {
            let mut rules = self.injector().rules();
            rules.list.clear();
            rules.watch_event_limit = None;
        }
        self.resume().heal()
    }

    /// The installed rules still active.
    pub fn rules(&self) -> Vec<Rule> {
        self.injector().rules().list.clone()
    }

    pub fn counts(&self) -> FaultCounts {
        self.injector().counts.borrow().clone()
    }

    /// Zeroes the counters (the `waiting` and `watches_open` gauges are kept).
    pub fn reset_counts(&self) {
        self.injector().count(|c| {
            *c = FaultCounts {
                waiting: c.waiting,
                watches_open: c.watches_open,
                ..FaultCounts::default()
            }
        });
    }

    /// Waits until the counters satisfy `pred` (wrap in a timeout as a failure bound).
    pub async fn until(&self, mut pred: impl FnMut(&FaultCounts) -> bool) -> FaultCounts {
        let mut rx = self.injector().counts.subscribe();
        match rx.wait_for(|c| pred(c)).await {
            Ok(c) => c.clone(),
            Err(_) => self.counts(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, uri: &str) -> RequestInfo {
        RequestInfo::parse(
            &Method::from_bytes(method.as_bytes()).expect("method"),
            &uri.parse::<Uri>().expect("uri"),
        )
    }

    #[test]
    fn request_info_resolves_verbs_resources_and_subresources() {
        let i = info("GET", "/api/v1/namespaces/default/configmaps?watch=true");
        assert_eq!(
            (i.verb.as_str(), i.resource.as_deref(), i.name),
            ("watch", Some("configmaps"), None)
        );
        let i = info(
            "PATCH",
            "/apis/siterecovery.trilio.io/v1alpha1/namespaces/a/protectionrequests/x/status",
        );
        assert_eq!(i.verb, "patch");
        assert_eq!(i.group, "siterecovery.trilio.io");
        assert_eq!(i.subresource.as_deref(), Some("status"));
        assert!(i.can_conflict());
        let i = info("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(
            (i.verb.as_str(), i.resource.as_deref(), i.name.as_deref()),
            ("get", Some("namespaces"), Some("kube-system"))
        );
        let i = info("PUT", "/api/v1/namespaces/x/finalize");
        assert_eq!(i.subresource.as_deref(), Some("finalize"));
        let i = info("GET", "/apis");
        assert_eq!((i.verb.as_str(), i.resource), ("get", None));
        assert_eq!(info("DELETE", "/api/v1/nodes").verb, "deletecollection");
    }

    #[test]
    fn rules_filter_by_verb_resource_and_count() {
        let cm = info("PUT", "/api/v1/namespaces/d/configmaps/c");
        let pr = info(
            "PUT",
            "/apis/siterecovery.trilio.io/v1alpha1/namespaces/d/protectionrequests/p/status",
        );
        assert!(Rule::conflict().matches(&cm));
        assert!(!Rule::conflict().verbs(&["create"]).matches(&cm));
        assert!(Rule::error(&[500]).resources(&["configmaps"]).matches(&cm));
        assert!(!Rule::error(&[500]).resources(&["configmaps"]).matches(&pr));
        assert!(
            Rule::error(&[500])
                .resources(&["protectionrequests.siterecovery.trilio.io/status"])
                .matches(&pr)
        );
        assert!(
            !Rule::error(&[500])
                .resources(&["configmaps/status"])
                .matches(&cm)
        );
        assert!(!Rule::error(&[500]).times(0).matches(&cm));
    }

    #[test]
    fn a_409_is_only_chosen_where_a_conflict_is_possible() {
        let injector = Injector::default();
        injector.rules().list.push(Rule::error(&[409]));
        assert_eq!(
            injector
                .decide(&info("GET", "/api/v1/namespaces/d/configmaps/c"))
                .error,
            None
        );
        assert_eq!(
            injector
                .decide(&info("PATCH", "/api/v1/namespaces/d/configmaps/c"))
                .error,
            Some(409)
        );
    }
}
