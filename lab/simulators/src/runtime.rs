//! The thin I/O shared by the simulators: reflector-fed caches, writes that tolerate the races
//! any controller meets (409, 404), and Events written the way client-go's recorder does.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::objects::rfc3339;

/// A write that failed for a reason other than the ordinary races.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing an object failed.
    #[error("cannot {action} {kind} {name:?} on cluster {cluster}: {source}")]
    Write {
        /// What was attempted: create, patch, delete.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// `namespace/name` or `name`.
        name: String,
        /// The cluster.
        cluster: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Start a reflector for `api` and return its store. The task ends when aborted.
pub fn watch<K>(api: Api<K>, dyntype: K::DynamicType, tasks: &mut Vec<JoinHandle<()>>) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let writer = reflector::store::Writer::new(dyntype);
    let store = writer.as_reader();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    tasks.push(tokio::spawn(stream.for_each(|event| async move {
        if let Err(error) = event {
            warn!(%error, "watch failed; retrying");
        }
    })));
    store
}

/// Whether an API error is one of the races a controller simply retries next pass.
fn is_race(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 404 | 409))
}

/// Writes of one simulator against one cluster.
#[derive(Clone)]
pub struct Writer {
    /// The cluster's client.
    pub client: Client,
    /// The cluster's name, for logs and errors.
    pub cluster: String,
}

impl Writer {
    fn err(
        &self,
        action: &'static str,
        kind: &str,
        name: &str,
        source: kube::Error,
    ) -> Result<(), Error> {
        if is_race(&source) {
            debug!(cluster = %self.cluster, action, kind, name, %source, "write lost a race; next pass retries");
            return Ok(());
        }
        Err(Error::Write {
            action,
            kind: kind.to_owned(),
            name: name.to_owned(),
            cluster: self.cluster.clone(),
            source: Box::new(source),
        })
    }

    /// Create, ignoring AlreadyExists.
    pub async fn create<K>(&self, api: &Api<K>, kind: &str, obj: &K) -> Result<(), Error>
    where
        K: Resource + Clone + DeserializeOwned + serde::Serialize + Debug,
    {
        let name = obj.meta().name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), obj).await {
            Ok(_) => Ok(()),
            Err(e) => self.err("create", kind, &name, e),
        }
    }

    /// Merge-patch the object (or its status when `status` is set), ignoring 404/409.
    pub async fn merge<K>(
        &self,
        api: &Api<K>,
        kind: &str,
        name: &str,
        status: bool,
        patch: Value,
    ) -> Result<(), Error>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        let pp = PatchParams::default();
        let result = if status {
            api.patch_status(name, &pp, &Patch::Merge(&patch)).await
        } else {
            api.patch(name, &pp, &Patch::Merge(&patch)).await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => self.err("patch", kind, name, e),
        }
    }

    /// Delete, ignoring NotFound.
    pub async fn delete<K>(&self, api: &Api<K>, kind: &str, name: &str) -> Result<(), Error>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => self.err("delete", kind, name, e),
        }
    }
}

/// The object an Event is about.
#[derive(Clone, Debug)]
pub struct Involved {
    /// apiVersion.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace ("" for cluster-scoped objects; their events go to `default`).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// Records core/v1 Events once per (object, reason, message), as a component would.
pub struct Recorder {
    writer: Writer,
    component: &'static str,
    seen: BTreeSet<(String, String, String)>,
    seq: u64,
}

impl Recorder {
    /// A recorder for `component` (e.g. `virt-controller`).
    pub fn new(writer: Writer, component: &'static str) -> Self {
        Recorder {
            writer,
            component,
            seen: BTreeSet::new(),
            seq: 0,
        }
    }

    /// Record an Event unless this one was recorded before.
    pub async fn record(
        &mut self,
        about: &Involved,
        type_: &str,
        reason: &str,
        message: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let key = (about.uid.clone(), reason.to_owned(), message.to_owned());
        if self.seen.contains(&key) {
            return Ok(());
        }
        self.seq += 1;
        let namespace = if about.namespace.is_empty() {
            "default"
        } else {
            about.namespace.as_str()
        };
        // client-go names events "<object>.<unix nanos in hex>".
        let nanos = now.as_nanosecond().unsigned_abs() + u128::from(self.seq);
        let event: Event = match serde_json::from_value(json!({
            "metadata": {"name": format!("{}.{nanos:x}", about.name), "namespace": namespace},
            "involvedObject": {
                "apiVersion": about.api_version, "kind": about.kind, "name": about.name,
                "namespace": (!about.namespace.is_empty()).then_some(&about.namespace), "uid": about.uid,
            },
            "type": type_, "reason": reason, "message": message,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "firstTimestamp": rfc3339(now), "lastTimestamp": rfc3339(now), "count": 1,
        })) {
            Ok(e) => e,
            Err(_) => return Ok(()),
        };
        let api: Api<Event> = Api::namespaced(self.writer.client.clone(), namespace);
        self.writer.create(&api, "Event", &event).await?;
        self.seen.insert(key);
        Ok(())
    }
}
