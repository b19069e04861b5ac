//! Following requests live (kube-runtime watcher): progress bars on a terminal, one plain line
//! per change when piped. Used by `status -w`, `vm --wait` and `unprotect --wait`.

use std::collections::BTreeMap;
use std::io::Write;
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kube::Api;
use kube::runtime::watcher::{self, Event};
use protect_api::ProtectionRequest;

use crate::connect::Connection;
use crate::error::{Error, Target};
use crate::render::{Paint, progress};

/// When following one request stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At Protected or Failed.
    Final,
    /// When the object is gone (deleted).
    Gone,
}

/// How a follow ended.
#[derive(Debug)]
pub enum Ended {
    /// The request reached a final phase.
    Final(Box<ProtectionRequest>),
    /// The request is gone.
    Gone,
}

/// Where progress goes: bars on a terminal, lines otherwise.
pub enum Display {
    /// Plain lines on stdout.
    Lines {
        /// Header printed yet.
        header_printed: bool,
        /// Width of the NAME column.
        name_width: usize,
        /// Last printed content per request (without the age), to print only changes.
        last: BTreeMap<String, String>,
    },
    /// indicatif bars.
    Bars {
        /// All bars.
        multi: MultiProgress,
        /// One bar per request, and one per volume keyed `request/pvc`.
        bars: BTreeMap<String, ProgressBar>,
        /// Colours.
        paint: Paint,
    },
}

impl Display {
    /// Bars when stdout is a terminal, lines otherwise.
    pub fn for_stdout(paint: Paint) -> Self {
        if console::Term::stdout().is_term() {
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: BTreeMap::new(),
                paint,
            }
        } else {
            Display::Lines {
                header_printed: false,
                name_width: 20,
                last: BTreeMap::new(),
            }
        }
    }

    /// Show `request`'s current state; `volumes` adds one bar per volume (single-request view).
    pub fn update(&mut self, request: &ProtectionRequest, volumes: bool) -> Result<(), Error> {
        let name = request.metadata.name.clone().unwrap_or_default();
        let now = jiff::Timestamp::now();
        match self {
            Display::Lines {
                header_printed,
                name_width,
                last,
            } => {
                let mut stdout = std::io::stdout().lock();
                if !*header_printed {
                    *name_width = (*name_width).max(progress::name_width([name.as_str()]));
                    writeln!(stdout, "{}", progress::watch_header(*name_width))?;
                    *header_printed = true;
                }
                let line = progress::watch_line(request, *name_width, now);
                let key = change_key(request);
                if last.get(&name) != Some(&key) {
                    writeln!(stdout, "{line}")?;
                    stdout.flush()?;
                    last.insert(name, key);
                }
            }
            Display::Bars { multi, bars, paint } => {
                let bar = bars.entry(name.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(progress::PHASE_STEPS));
                    bar.set_style(phase_style());
                    bar.set_prefix(name.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_position(progress::phase_step(request.phase()));
                bar.set_message(progress::request_bar_message(request, *paint));
                if volumes {
                    for v in request.status.iter().flat_map(|s| s.volumes.iter()) {
                        let key = format!("{name}/{}", v.pvc);
                        let vbar = bars.entry(key).or_insert_with(|| {
                            let b = multi.add(ProgressBar::new(1000));
                            b.set_style(volume_style());
                            b.set_prefix(format!("  {}", v.pvc));
                            b
                        });
                        vbar.set_position(progress::volume_position(v));
                        vbar.set_message(progress::volume_bar_message(v));
                    }
                }
            }
        }
        Ok(())
    }

    /// Widen the NAME column of plain lines for `names`, if nothing has been printed yet.
    pub fn align_names<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        if let Display::Lines {
            header_printed: false,
            name_width,
            ..
        } = self
        {
            *name_width = progress::name_width(names);
        }
    }

    /// Note that `name` is gone.
    pub fn deleted(&mut self, name: &str) -> Result<(), Error> {
        match self {
            Display::Lines { last, .. } => {
                last.remove(name);
                writeln!(std::io::stdout().lock(), "{}", progress::deleted_line(name))?;
            }
            Display::Bars { multi, bars, .. } => {
                let keys: Vec<String> = bars
                    .keys()
                    .filter(|k| *k == name || k.starts_with(&format!("{name}/")))
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(b) = bars.remove(&k) {
                        b.finish_and_clear();
                        multi.remove(&b);
                    }
                }
                multi.println(progress::deleted_line(name))?;
            }
        }
        Ok(())
    }

    /// Stop drawing and leave the bars as they are.
    pub fn finish(&mut self) {
        if let Display::Bars { bars, .. } = self {
            for bar in bars.values() {
                bar.abandon();
            }
        }
    }
}

fn phase_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{bar:20}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn volume_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:20}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// What counts as a change worth a new line: everything in the line except the age.
fn change_key(request: &ProtectionRequest) -> String {
    progress::watch_line(request, 0, jiff::Timestamp::UNIX_EPOCH)
        .split_whitespace()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, w)| w)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Errors after which following cannot succeed, as opposed to a dropped connection.
fn is_fatal(err: &Error) -> bool {
    matches!(
        err,
        Error::ResourceMissing { .. }
            | Error::NamespaceMissing { .. }
            | Error::NotFound { .. }
            | Error::Forbidden { .. }
            | Error::Kubeconfig(_)
    )
}

/// How many consecutive watch errors are retried (with a growing pause) before giving up.
const MAX_RETRIES: u32 = 5;

/// Follow one request until `until`.
///
/// # Errors
/// The request does not exist when following starts (for [`Until::Final`]), the CRDs are
/// missing, access is forbidden, or the watch keeps failing.
pub async fn follow_request(
    conn: &Connection,
    namespace: &str,
    name: &str,
    until: Until,
    display: &mut Display,
) -> Result<Ended, Error> {
    let api: Api<ProtectionRequest> = Api::namespaced(conn.client.clone(), namespace);
    let target = crate::cmd::request_target(namespace, Some(name));
    let mut stream = pin!(watcher::watch_object(api, name));
    let mut seen = false;
    let mut failures = 0;
    while let Some(item) = stream.next().await {
        match item {
            Err(e) => {
                let err = Error::from_watcher(e, &conn.cluster, &target);
                failures += 1;
                if is_fatal(&err) || failures > MAX_RETRIES {
                    display.finish();
                    return Err(err);
                }
                tracing::warn!(error = %err, "watch interrupted; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(failures))).await;
            }
            Ok(None) => {
                if until == Until::Gone || seen {
                    display.deleted(name)?;
                    display.finish();
                    return Ok(Ended::Gone);
                }
                display.finish();
                return Err(Error::NotFound {
                    cluster: Box::new(conn.cluster.clone()),
                    kind: "ProtectionRequest",
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
            }
            Ok(Some(request)) => {
                failures = 0;
                seen = true;
                display.update(&request, true)?;
                if until == Until::Final && request.phase().is_final() {
                    display.finish();
                    return Ok(Ended::Final(Box::new(request)));
                }
            }
        }
    }
    display.finish();
    Err(Error::Other(format!(
        "the watch on ProtectionRequest {name:?} ended unexpectedly"
    )))
}

/// How following every request ended.
#[derive(Debug)]
pub enum AllEnded {
    /// Every request in scope (at least one) is Protected or Failed: these, sorted by
    /// namespace and name.
    Final(Vec<ProtectionRequest>),
    /// Interrupted (Ctrl-C) or the watch stream ended.
    Interrupted,
}

/// Follow every request in `api`'s scope that `keep` selects, until there is at least one and
/// every one of them is Protected or Failed (as `status NAME -w` ends at Protected or Failed),
/// or until interrupted (Ctrl-C). Requests deleted meanwhile leave the set; with none, it keeps
/// following until one appears.
///
/// The initial list is shown at once, its names aligned; then one line per change.
pub async fn follow_all(
    api: Api<ProtectionRequest>,
    conn: &Connection,
    target: &Target,
    keep: impl Fn(&ProtectionRequest) -> bool,
    display: &mut Display,
) -> Result<AllEnded, Error> {
    type Key = (Option<String>, Option<String>);
    fn key(r: &ProtectionRequest) -> Key {
        (r.metadata.namespace.clone(), r.metadata.name.clone())
    }
    // Across namespaces (`-A`) two requests may share a name: lines name `namespace/name`.
    let all_namespaces = target.namespace.is_none();
    let label = |(ns, name): &Key| -> String {
        let name = name.as_deref().unwrap_or_default();
        match ns {
            Some(ns) if all_namespaces => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    };
    let shown = |r: &ProtectionRequest| -> ProtectionRequest {
        let mut r = r.clone();
        r.metadata.name = Some(label(&key(&r)));
        r
    };
    let mut stream = pin!(watcher::watcher(api, watcher::Config::default()));
    let mut failures = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    let mut ctrl_c = pin!(ctrl_c);
    // What is shown: the kept requests, by namespace and name.
    let mut known: BTreeMap<Key, ProtectionRequest> = BTreeMap::new();
    // A (re)list in progress: what it has returned so far.
    let mut listing: Option<BTreeMap<Key, ProtectionRequest>> = None;
    loop {
        let item = tokio::select! {
            _ = &mut ctrl_c => { display.finish(); return Ok(AllEnded::Interrupted); }
            item = stream.next() => item,
        };
        let Some(item) = item else { break };
        match item {
            Err(e) => {
                let err = Error::from_watcher(e, &conn.cluster, target);
                failures += 1;
                if is_fatal(&err) || failures > MAX_RETRIES {
                    display.finish();
                    return Err(err);
                }
                tracing::warn!(error = %err, "watch interrupted; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(failures))).await;
                continue;
            }
            Ok(Event::Init) => {
                listing = Some(BTreeMap::new());
                continue;
            }
            Ok(Event::InitApply(r)) => {
                failures = 0;
                if keep(&r) {
                    listing.get_or_insert_with(BTreeMap::new).insert(key(&r), r);
                }
                continue;
            }
            Ok(Event::InitDone) => {
                failures = 0;
                let listed = listing.take().unwrap_or_default();
                let labels: Vec<String> = listed.keys().map(label).collect();
                display.align_names(labels.iter().map(String::as_str));
                for gone in known.keys().filter(|k| !listed.contains_key(*k)) {
                    display.deleted(&label(gone))?;
                }
                for r in listed.values() {
                    display.update(&shown(r), false)?;
                }
                known = listed;
            }
            Ok(Event::Apply(r)) => {
                failures = 0;
                if keep(&r) {
                    display.update(&shown(&r), false)?;
                    known.insert(key(&r), r);
                }
            }
            Ok(Event::Delete(r)) => {
                if known.remove(&key(&r)).is_some() {
                    display.deleted(&label(&key(&r)))?;
                }
            }
        }
        if !known.is_empty() && known.values().all(|r| r.phase().is_final()) {
            display.finish();
            return Ok(AllEnded::Final(known.into_values().collect()));
        }
    }
    display.finish();
    Ok(AllEnded::Interrupted)
}
