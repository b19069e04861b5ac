//! kube-rs 5 clients and kube-runtime watchers against the lab over HTTPS.

mod common;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use protect_lab_apiserver::{ClusterConfig, Lab};
use serde_json::json;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}}))
        .expect("configmap")
}

#[tokio::test]
async fn kube_api_creates_reads_lists_replaces_and_deletes_configmaps() {
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let client = common::client(&lab, "quorum").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &configmap("c1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let mut got = api.get("c1").await.expect("get");
    assert_eq!(
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
    got.data
        .get_or_insert_default()
        .insert("b".into(), "2".into());
    let replaced = api
        .replace("c1", &PostParams::default(), &got)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    api.delete("c1", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt("c1").await.expect("get_opt").is_none());
}

#[tokio::test]
async fn a_replace_with_a_stale_resource_version_is_a_409_conflict() {
    // 12-err-put-stale-rv-409.http
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let api: Api<ConfigMap> = Api::namespaced(common::client(&lab, "quorum").await, "default");
    let first = api
        .create(&PostParams::default(), &configmap("c2"))
        .await
        .expect("create");
    let mut newer = first.clone();
    newer
        .data
        .get_or_insert_default()
        .insert("a".into(), "2".into());
    api.replace("c2", &PostParams::default(), &newer)
        .await
        .expect("first replace");
    let mut stale = first;
    stale
        .data
        .get_or_insert_default()
        .insert("a".into(), "3".into());
    match api.replace("c2", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert!(
                status.message.contains("the object has been modified"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn a_noop_status_apply_does_not_bump_the_resource_version() {
    // 34c-noop-status-patch.http, 36f-ssa-reapply-noop.http
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let client = common::client(&lab, "quorum").await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(common::corpus_crd()).expect("crd"),
    )
    .await
    .expect("crd");
    let gvk =
        kube::api::GroupVersionKind::gvk("siterecovery.trilio.io", "v1alpha1", "ProtectionRequest");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "protectionrequests");
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let pr = json!({"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
        "metadata": {"name": "p"}, "spec": {"vmName": "v", "vmNamespace": "n"}});
    api.patch("p", &PatchParams::apply("controller"), &Patch::Apply(&pr))
        .await
        .expect("create by apply");
    let status = json!({"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
        "status": {"phase": "Pending"}});
    let pp = PatchParams::apply("controller").force();
    let first = api
        .patch_status("p", &pp, &Patch::Apply(&status))
        .await
        .expect("status apply");
    let second = api
        .patch_status("p", &pp, &Patch::Apply(&status))
        .await
        .expect("same status apply");
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
}

#[tokio::test]
async fn a_watcher_relists_after_an_in_stream_410() {
    // 54-watch-too-old-rv-410.http: kube-runtime relists only on an in-stream ERROR 410.
    let config = ClusterConfig {
        history_capacity: 2,
        ..Default::default()
    };
    let lab = Lab::start_with(&["quorum"], config).await.expect("lab");
    let cluster = lab.cluster("quorum").expect("cluster").clone();
    let api: Api<ConfigMap> = Api::namespaced(common::client(&lab, "quorum").await, "default");
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut init_done = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut stage = 0;
    while init_done < 2 {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("watcher progresses");
        if let Some(Ok(watcher::Event::InitDone)) = next {
            init_done += 1;
        }
        if init_done == 1 && stage == 0 {
            stage = 1;
            for i in 0..5 {
                api.create(&PostParams::default(), &configmap(&format!("r{i}")))
                    .await
                    .expect("create");
            }
            cluster.expire_watch_history();
            cluster.drop_watches();
        }
    }
    assert_eq!(init_done, 2);
}
