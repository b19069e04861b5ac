//! One cluster's storage: objects by bucket/namespace/name, the cluster-wide monotonic
//! resourceVersion, a bounded window of past events (what etcd + the watch cache give a real
//! apiserver), and the live watchers fed from it.
//!
//! Guarantees: every committed change gets a resourceVersion greater than all before it and is
//! recorded once in the event window; watchers never block a writer (a watcher whose channel is
//! full is dropped, which ends its stream, as the apiserver's cacher does with slow watchers).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::mpsc;

/// Events a watcher may have queued before it is considered too slow and dropped.
const WATCHER_QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub bucket: String,
    pub kind: EventType,
    /// The object after the change (for DELETED: the last state, with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before the change (None for ADDED); selectors use it to turn a change that
    /// leaves a watcher's selection into DELETED.
    pub prev: Option<Arc<Value>>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    /// The object's resourceVersion is not the one the write was based on.
    #[error("conflict: current resourceVersion is {current}")]
    Conflict { current: u64 },
}

/// A requested resourceVersion is older than the event window (HTTP 410 / in-stream 410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

type Key = (String, String, String);

struct Watcher {
    bucket: String,
    tx: mpsc::Sender<Arc<Event>>,
}

struct State {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<Event>>,
    /// Every event with rv > window_start is in `history`.
    window_start: u64,
    capacity: usize,
    watchers: Vec<Watcher>,
}

/// The store of one cluster.
pub struct Store {
    state: Mutex<State>,
}

/// What a watch starts with: either the current objects (as synthetic ADDED events) or the
/// events after the requested resourceVersion, then the live channel.
pub struct Subscription {
    pub initial: Vec<Arc<Event>>,
    /// The store's resourceVersion when the watch was registered.
    pub rv: u64,
    pub live: mpsc::Receiver<Arc<Event>>,
}

fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// An empty store whose event window keeps the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Store {
            state: Mutex::new(State {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                window_start: 1,
                capacity: capacity.max(1),
                watchers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every mutation is one insert),
        // so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current resourceVersion of the cluster.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// The oldest resourceVersion a watch may still resume from.
    pub fn window_start(&self) -> u64 {
        self.lock().window_start
    }

    /// Forgets all past events, as if the watch cache had been re-initialised: watches from
    /// any earlier resourceVersion get 410 Expired afterwards.
    pub fn expire_history(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.window_start = st.rv;
    }

    /// Sets how many events the window keeps.
    pub fn set_history_capacity(&self, capacity: usize) {
        let mut st = self.lock();
        st.capacity = capacity.max(1);
        Self::trim(&mut st);
    }

    pub fn get(&self, bucket: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a bucket (in one namespace, or all for `None`), ordered by
    /// namespace/name, with the resourceVersion they were read at.
    pub fn list(&self, bucket: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let st = self.lock();
        (Self::select(&st, bucket, namespace), st.rv)
    }

    fn select(st: &State, bucket: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        st.objects
            .range((bucket.to_string(), String::new(), String::new())..)
            .take_while(|((b, _, _), _)| b == bucket)
            .filter(|((_, ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The objects of a bucket as they were at `rv`, rebuilt from the event window (an Exact
    /// list, or the pages of a paginated list).
    pub fn list_at(
        &self,
        bucket: &str,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<Arc<Value>>, TooOld> {
        let st = self.lock();
        if rv < st.window_start {
            return Err(TooOld {
                requested: rv,
                oldest: st.window_start,
            });
        }
        let mut objects: BTreeMap<(String, String), Arc<Value>> =
            Self::select(&st, bucket, namespace)
                .into_iter()
                .map(|o| (ns_name(&o), o))
                .collect();
        for ev in st.history.iter().rev().take_while(|e| e.rv > rv) {
            if ev.bucket != bucket {
                continue;
            }
            let key = ns_name(&ev.object);
            if namespace.is_some_and(|n| n != key.0) {
                continue;
            }
            match &ev.prev {
                Some(prev) if ev.kind != EventType::Added => {
                    objects.insert(key, prev.clone());
                }
                _ => {
                    objects.remove(&key);
                }
            }
        }
        Ok(objects.into_values().collect())
    }

    /// Creates an object, assigning the next resourceVersion.
    pub fn create(&self, bucket: &str, mut obj: Value) -> Result<Arc<Value>, StoreError> {
        let mut st = self.lock();
        let key = key_of(bucket, &obj);
        if st.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        st.objects.insert(key, obj.clone());
        Self::emit(&mut st, bucket, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces an object if its current resourceVersion is `expected_rv`.
    pub fn update(
        &self,
        bucket: &str,
        expected_rv: u64,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut st = self.lock();
        let key = key_of(bucket, &obj);
        let prev = st.objects.get(&key).cloned().ok_or(StoreError::NotFound)?;
        let current = rv_of(&prev);
        if current != expected_rv {
            return Err(StoreError::Conflict { current });
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        st.objects.insert(key, obj.clone());
        Self::emit(
            &mut st,
            bucket,
            EventType::Modified,
            obj.clone(),
            Some(prev),
        );
        Ok(obj)
    }

    /// Deletes an object if its current resourceVersion is `expected_rv` (any for `None`);
    /// returns its last state.
    pub fn delete(
        &self,
        bucket: &str,
        namespace: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut st = self.lock();
        let key = (bucket.to_string(), namespace.to_string(), name.to_string());
        let prev = st.objects.get(&key).cloned().ok_or(StoreError::NotFound)?;
        let current = rv_of(&prev);
        if expected_rv.is_some_and(|e| e != current) {
            return Err(StoreError::Conflict { current });
        }
        st.objects.remove(&key);
        st.rv += 1;
        let rv = st.rv;
        // The DELETED event carries the deletion's revision (50-watch-from-list-rv.http).
        let mut gone = (*prev).clone();
        set_rv(&mut gone, rv);
        Self::emit(
            &mut st,
            bucket,
            EventType::Deleted,
            Arc::new(gone),
            Some(prev.clone()),
        );
        Ok(prev)
    }

    /// Registers a watcher on a bucket. `from`: None = start with the current objects as ADDED;
    /// Some(rv) = replay the events after rv.
    pub fn watch(&self, bucket: &str, from: Option<u64>) -> Result<Subscription, TooOld> {
        let mut st = self.lock();
        let initial = match from {
            None => Self::select(&st, bucket, None)
                .into_iter()
                .map(|o| {
                    Arc::new(Event {
                        rv: rv_of(&o),
                        bucket: bucket.to_string(),
                        kind: EventType::Added,
                        object: o,
                        prev: None,
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < st.window_start {
                    return Err(TooOld {
                        requested: rv,
                        oldest: st.window_start,
                    });
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > rv && e.bucket == bucket)
                    .cloned()
                    .collect()
            }
        };
        let (tx, live) = mpsc::channel(WATCHER_QUEUE);
        st.watchers.push(Watcher {
            bucket: bucket.to_string(),
            tx,
        });
        Ok(Subscription {
            initial,
            rv: st.rv,
            live,
        })
    }

    fn emit(
        st: &mut State,
        bucket: &str,
        kind: EventType,
        object: Arc<Value>,
        prev: Option<Arc<Value>>,
    ) {
        let ev = Arc::new(Event {
            rv: st.rv,
            bucket: bucket.to_string(),
            kind,
            object,
            prev,
        });
        st.history.push_back(ev.clone());
        Self::trim(st);
        // A full or closed channel drops the watcher; it never blocks the writer.
        st.watchers
            .retain(|w| w.bucket != bucket || w.tx.try_send(ev.clone()).is_ok());
    }

    fn trim(st: &mut State) {
        while st.history.len() > st.capacity {
            if let Some(old) = st.history.pop_front() {
                st.window_start = old.rv;
            }
        }
    }

    /// Drops every watcher of every bucket.
    pub fn close_all_watchers(&self) {
        self.lock().watchers.clear();
    }

    /// Drops every watcher (their streams end), e.g. when a resource type disappears.
    pub fn close_watchers(&self, bucket: &str) {
        self.lock().watchers.retain(|w| w.bucket != bucket);
    }
}

fn key_of(bucket: &str, obj: &Value) -> Key {
    let (ns, name) = ns_name(obj);
    (bucket.to_string(), ns, name)
}

fn ns_name(obj: &Value) -> (String, String) {
    let meta = &obj["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, v: &str) -> Value {
        json!({"metadata":{"name":name,"namespace":"default"},"data":{"k":v}})
    }

    #[test]
    fn every_write_gets_a_greater_resource_version() {
        let s = Store::new(10);
        let a = s.create("configmaps", cm("a", "1")).expect("create");
        let b = s
            .update("configmaps", rv_of(&a), cm("a", "2"))
            .expect("update");
        assert!(rv_of(&b) > rv_of(&a));
        assert_eq!(
            s.update("configmaps", rv_of(&a), cm("a", "3")),
            Err(StoreError::Conflict { current: rv_of(&b) })
        );
    }

    #[test]
    fn a_list_at_an_old_resource_version_is_rebuilt_from_the_window() {
        let s = Store::new(10);
        let a = s.create("configmaps", cm("a", "1")).expect("create");
        let rv1 = rv_of(&a);
        s.update("configmaps", rv1, cm("a", "2")).expect("update");
        s.create("configmaps", cm("b", "1")).expect("create");
        let old = s.list_at("configmaps", None, rv1).expect("in window");
        assert_eq!(old.len(), 1);
        assert_eq!(old[0]["data"]["k"], "1");
    }

    #[test]
    fn a_watch_from_before_the_window_is_too_old() {
        let s = Store::new(1);
        s.create("configmaps", cm("a", "1")).expect("create");
        s.create("configmaps", cm("b", "1")).expect("create");
        assert!(s.watch("configmaps", Some(1)).is_err());
        s.expire_history();
        let rv = s.current_rv();
        assert!(s.watch("configmaps", Some(rv)).is_ok());
        assert!(s.watch("configmaps", Some(rv - 1)).is_err());
    }

    #[test]
    fn a_full_watcher_is_dropped_instead_of_blocking_writers() {
        let s = Store::new(10);
        let sub = s.watch("configmaps", None).expect("watch");
        for i in 0..(WATCHER_QUEUE + 5) {
            s.create("configmaps", cm(&format!("c{i}"), "1"))
                .expect("create");
        }
        assert!(s.lock().watchers.is_empty());
        drop(sub);
    }
}
