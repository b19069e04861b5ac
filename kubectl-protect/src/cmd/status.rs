//! `kubectl protect status [NAME]`: the table of requests, or one request in detail; `-w`
//! follows live until the request — without NAME, every request listed (at least one) — is
//! Protected or Failed.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use protect_api::ProtectionRequest;

use super::{request_target, stdout_paint};
use crate::cli::{GlobalArgs, ObjectFormat, StatusArgs, StatusFormat};
use crate::connect::{self, Connection};
use crate::error::{Error, Target};
use crate::exit::Exit;
use crate::follow::{self, AllEnded, Display, Ended, Until};
use crate::health::{health, worst_exit};
use crate::render::list::{Columns, no_resources, render_list};
use crate::render::{detail, output, progress};

/// Show the requests.
pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<Exit, Error> {
    let conn = connect::quorum(global).await?;
    let namespace = global.protection_namespace.as_str();
    match args.name.clone() {
        Some(name) => one(&conn, namespace, &name, &args).await,
        None => all(&conn, namespace, &args).await,
    }
}

async fn one(
    conn: &Connection,
    namespace: &str,
    name: &str,
    args: &StatusArgs,
) -> Result<Exit, Error> {
    let target = request_target(namespace, Some(name));
    if args.watch {
        let mut display = Display::for_stdout(stdout_paint());
        return match follow::follow_request(conn, namespace, name, Until::Final, &mut display)
            .await?
        {
            Ended::Final(request) => {
                println!("{}", progress::final_line(&request));
                Ok(health(&request).exit())
            }
            Ended::Gone => Ok(Exit::Error),
        };
    }
    let api: Api<ProtectionRequest> = Api::namespaced(conn.client.clone(), namespace);
    let request = api
        .get(name)
        .await
        .map_err(|e| Error::from_kube(e, &conn.cluster, &target))?;
    match args.output {
        Some(StatusFormat::Json) => print_object(&request, ObjectFormat::Json)?,
        Some(StatusFormat::Yaml) => print_object(&request, ObjectFormat::Yaml)?,
        Some(StatusFormat::Wide) | None => {
            let events = events_for(conn, namespace, &request).await;
            print!(
                "{}",
                detail::render_detail(&request, &events, jiff::Timestamp::now(), stdout_paint())
            );
        }
    }
    Ok(health(&request).exit())
}

fn print_object(request: &ProtectionRequest, format: ObjectFormat) -> Result<(), Error> {
    print!(
        "{}",
        output::format(&output::without_managed_fields(request), format)?
    );
    Ok(())
}

/// Recent core/v1 Events about `request`. Events are an aid: failing to read them (RBAC often
/// withholds them) leaves the section empty rather than failing the command.
async fn events_for(conn: &Connection, namespace: &str, request: &ProtectionRequest) -> Vec<Event> {
    let name = request.metadata.name.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(conn.client.clone(), namespace);
    let selector = format!("involvedObject.kind=ProtectionRequest,involvedObject.name={name}");
    match api.list(&ListParams::default().fields(&selector)).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|e| {
                // Guard against a server that ignores the field selector, and against a
                // deleted-and-recreated request's old Events.
                e.involved_object.name.as_deref() == Some(name.as_str())
                    && (e.involved_object.uid.is_none()
                        || e.involved_object.uid == request.metadata.uid)
            })
            .collect(),
        Err(err) => {
            tracing::debug!(%err, "cannot list Events");
            Vec::new()
        }
    }
}

async fn all(conn: &Connection, namespace: &str, args: &StatusArgs) -> Result<Exit, Error> {
    let (api, target): (Api<ProtectionRequest>, Target) = if args.all_namespaces {
        let mut t = request_target(namespace, None);
        t.namespace = None;
        (Api::all(conn.client.clone()), t)
    } else {
        (
            Api::namespaced(conn.client.clone(), namespace),
            request_target(namespace, None),
        )
    };
    let vm_namespace = args.vm_namespace.clone();
    let keep = move |r: &ProtectionRequest| {
        vm_namespace
            .as_deref()
            .is_none_or(|ns| r.spec.vm_namespace == ns)
    };
    if args.watch {
        let mut display = Display::for_stdout(stdout_paint());
        return match follow::follow_all(api, conn, &target, keep, &mut display).await? {
            AllEnded::Final(requests) => {
                println!("{}", progress::final_summary(&requests));
                Ok(worst_exit(&requests))
            }
            AllEnded::Interrupted => Ok(Exit::Ok),
        };
    }
    let mut requests: Vec<ProtectionRequest> = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::from_kube(e, &conn.cluster, &target))?
        .items
        .into_iter()
        .filter(keep)
        .collect();
    requests.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    match args.output {
        Some(StatusFormat::Json | StatusFormat::Yaml) => {
            let format = if args.output == Some(StatusFormat::Json) {
                ObjectFormat::Json
            } else {
                ObjectFormat::Yaml
            };
            let items: Vec<ProtectionRequest> = requests
                .iter()
                .map(output::without_managed_fields)
                .collect();
            print!("{}", output::format(&output::list(&items)?, format)?);
        }
        Some(StatusFormat::Wide) | None if requests.is_empty() => {
            eprintln!(
                "{}",
                no_resources((!args.all_namespaces).then_some(namespace))
            );
        }
        Some(StatusFormat::Wide) | None => {
            let columns = Columns {
                wide: args.output == Some(StatusFormat::Wide),
                namespace: args.all_namespaces,
            };
            print!(
                "{}",
                render_list(&requests, columns, jiff::Timestamp::now(), stdout_paint())
            );
        }
    }
    Ok(worst_exit(&requests))
}
