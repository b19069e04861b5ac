//! The HTTP front of a cluster: one router whose every request passes [`request_gate`]
//! (authentication, the request log, and the place a fault layer sits), then [`dispatch`], which
//! resolves the path like the apiserver's RequestInfoFactory and hands resource requests to the
//! read ([`crate::read`]), watch ([`crate::watch`]) and write ([`crate::write`]) paths.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use protect_lab_apimachinery::status;
use serde_json::{Value, json};

use crate::cluster::{ClusterState, UserInfo};
use crate::registry::ResourceType;
use crate::respond::{self, ApiError, Encoding};
use crate::{discovery, openapi, read, watch, write};

/// Largest request body accepted (etcd's object limit is 1.5 MiB; CRDs can be large).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The router of one cluster.
pub fn router(state: Arc<ClusterState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), request_gate))
        .with_state(state)
}

/// Seeds a new cluster with what kube-apiserver creates at start-up.
pub fn seed(state: &ClusterState) {
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        let mut obj = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": ns}});
        write::prepare_builtin_create(&mut obj, "Namespace");
        write::stamp_new(&mut obj, false);
        crate::order::builtin(&mut obj);
        if let Err(error) = state.store.create("namespaces", obj) {
            tracing::warn!(%error, ns, "seeding namespace");
        }
    }
}

/// Every request of a cluster passes here, once. Authentication maps the bearer token to a
/// user; the request log records method, path, query and the answer's status code.
///
/// Fault injection hooks in here: [`fault_hook`] may hold the request, delay it or answer in
/// place of the cluster, and watch answers are wrapped so faults can end them.
async fn request_gate(
    State(state): State<Arc<ClusterState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let info = crate::faults::RequestInfo::parse(req.method(), req.uri());
    let mut injected = false;
    let user = match bearer_token(req.headers()) {
        None => Some(UserInfo::anonymous()),
        Some(token) => state.authenticate(&token),
    };
    let response = match user.clone() {
        None => respond::error(
            ApiError::status(status::failure(401, Some("Unauthorized"), "Unauthorized")),
            Encoding {
                pretty: false,
                yaml: false,
            },
        ),
        Some(user) => match fault_hook(&state, &info).await {
            Some(faulted) => {
                injected = true;
                faulted
            }
            None => {
                req.extensions_mut().insert(user);
                let response = next.run(req).await;
                state.faults.wrap_watch(&info, response)
            }
        },
    };
    state.record(crate::cluster::RequestRecord {
        method,
        path,
        query,
        status: response.status().as_u16(),
        user: user.map(|u| u.username).unwrap_or_default(),
        injected,
    });
    response
}

/// Where fault injection answers instead of the cluster: waits out a pause (or, for
/// in-process requests, a partition), sleeps injected latency, and answers an injected error
/// Status when a rule fires ([`crate::faults`]).
async fn fault_hook(state: &ClusterState, info: &crate::faults::RequestInfo) -> Option<Response> {
    state.faults.intercept(info).await
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// One request, decoded for the handlers.
pub struct Ctx {
    pub state: Arc<ClusterState>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub user: UserInfo,
    pub enc: Encoding,
    pub body: Bytes,
}

impl Ctx {
    /// A query parameter (the first, if repeated).
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request for objects of one resource type.
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

async fn dispatch(State(state): State<Arc<ClusterState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let enc = Encoding {
        pretty: respond::wants_pretty(&parts.headers, &query),
        yaml: false,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return respond::error(
                ApiError::status(status::failure(
                    413,
                    Some("RequestEntityTooLarge"),
                    "the request body is too large",
                )),
                enc,
            );
        }
    };
    let user = parts
        .extensions
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous);
    let ctx = Ctx {
        state,
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query,
        user,
        enc,
        body,
    };
    let path = parts.uri.path().to_string();
    match route(&ctx, &path).await {
        Ok(resp) => resp,
        Err(err) => respond::error(err, enc),
    }
}

fn plain(code: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn route(ctx: &Ctx, path: &str) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let get = ctx.method == Method::GET;
    match segs.as_slice() {
        ["version"] if get => Ok(version()),
        ["healthz" | "readyz" | "livez"] if get => Ok(plain(StatusCode::OK, "ok")),
        ["api"] if get => Ok(discovery::root(&ctx.state, true, &ctx.headers, ctx.enc)),
        ["apis"] if get => Ok(discovery::root(&ctx.state, false, &ctx.headers, ctx.enc)),
        ["openapi", "v3"] if get => Ok(openapi::index(&ctx.state)),
        ["openapi", "v3", rest @ ..] if get => openapi::gv_document(&ctx.state, &rest.join("/")),
        ["api", "v1"] if get => discovery::resource_list(&ctx.state, "", "v1", ctx.enc),
        ["apis", group] if get => discovery::group(&ctx.state, group, ctx.enc),
        ["apis", group, version] if get => {
            discovery::resource_list(&ctx.state, group, version, ctx.enc)
        }
        ["api", "v1", rest @ ..] => resource(ctx, "", "v1", rest).await,
        ["apis", group, version, rest @ ..] => resource(ctx, group, version, rest).await,
        _ => Err(ApiError::PageNotFound),
    }
}

/// `/version`: always indented, no trailing newline (01-version.http).
fn version() -> Response {
    let doc = json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-protect-lab",
        "gitCommit": "$Format:%H$",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    });
    respond::object(
        StatusCode::OK,
        &doc,
        Encoding {
            pretty: true,
            yaml: false,
        },
        &[],
    )
}

/// Resolves `[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]` as the apiserver does
/// (`namespaces/<name>/status|finalize` is the namespace's own subresource).
fn resolve(ctx: &Ctx, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let (namespace, rest): (Option<String>, Vec<&str>) = match rest {
        ["namespaces", ns, next, tail @ ..] if !matches!(*next, "status" | "finalize") => (
            Some(ns.to_string()),
            std::iter::once(*next).chain(tail.iter().copied()).collect(),
        ),
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::PageNotFound),
    };
    let rt = ctx
        .state
        .resource(group, version, plural)
        .ok_or(ApiError::PageNotFound)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::PageNotFound);
    }
    if let (Some(sub), Some(name)) = (&sub, &name)
        && !(sub == "status" && rt.status_subresource)
    {
        // 20-err-unknown-resource-404.http: an unknown subresource is a NotFound of the parent.
        return Err(ApiError::status(status::not_found(respond::target(
            &rt, name,
        ))));
    }
    Ok(Target {
        rt,
        namespace,
        name,
        subresource: sub,
    })
}

async fn resource(
    ctx: &Ctx,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let target = resolve(ctx, group, version, rest)?;
    let is_watch = ctx.flag("watch");
    match (&ctx.method, target.name.is_some()) {
        (&Method::GET, _) if is_watch => watch::watch(ctx, &target).await,
        (&Method::GET, true) => read::get(ctx, &target),
        (&Method::GET, false) => read::list(ctx, &target),
        (&Method::POST, false) => write::create(ctx, &target).await,
        (&Method::POST, true) => Err(respond::method_not_allowed("create", &target.rt)),
        (&Method::PUT, true) => write::update(ctx, &target).await,
        (&Method::PATCH, true) => write::patch(ctx, &target).await,
        (&Method::DELETE, true) => write::delete(ctx, &target).await,
        (&Method::DELETE, false) => write::delete_collection(ctx, &target).await,
        (m, _) => Err(respond::method_not_allowed(
            &m.as_str().to_lowercase(),
            &target.rt,
        )),
    }
}

/// The view of a stored object through a resource type (only Events differ between views).
pub fn view(rt: &ResourceType, stored: &Value) -> Value {
    if rt.bucket == "events" {
        crate::events::view(stored, &rt.api_version())
    } else {
        stored.clone()
    }
}
