//! Reaching the clusters: the quorum cluster from kubectl's kubeconfig, context and flags; the
//! primary cluster from the policy's kubeconfig Secret on the quorum cluster.

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::GlobalArgs;
use crate::error::{ClusterRef, Error};

/// A client for one cluster, with what messages need to say about it.
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Which cluster this is.
    pub cluster: ClusterRef,
    /// The context's namespace, else `default` (kubectl's rule).
    pub default_namespace: String,
}

/// The kubeconfig kubectl would use: `--kubeconfig`, else KUBECONFIG (merged), else
/// `~/.kube/config`.
pub fn load_kubeconfig(global: &GlobalArgs) -> Result<Kubeconfig, Error> {
    let loaded = match &global.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display()))),
        None => Kubeconfig::read().map_err(|e| Error::Kubeconfig(e.to_string())),
    }?;
    Ok(loaded)
}

/// The options kubectl's `--context`, `--cluster` and `--user` select.
pub fn options(global: &GlobalArgs) -> KubeConfigOptions {
    KubeConfigOptions {
        context: global.context.clone(),
        cluster: global.cluster.clone(),
        user: global.user.clone(),
    }
}

/// The namespace of the selected context, without contacting any server (for client-side dry
/// runs): the context's namespace, else `default`.
pub fn context_namespace(kubeconfig: &Kubeconfig, options: &KubeConfigOptions) -> String {
    let context_name = options
        .context
        .as_deref()
        .or(kubeconfig.current_context.as_deref());
    kubeconfig
        .contexts
        .iter()
        .find(|c| Some(c.name.as_str()) == context_name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .unwrap_or_else(|| "default".to_owned())
}

/// The selected context exists: `--context`, else the current context. kube's own wording
/// ("failed to load current context: X") is wrong for `--context X`; this one names the
/// contexts there are.
pub fn check_context(kubeconfig: &Kubeconfig, options: &KubeConfigOptions) -> Result<(), Error> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let available = if names.is_empty() {
        "it has none".to_owned()
    } else {
        format!("its contexts: {}", names.join(", "))
    };
    match options
        .context
        .as_deref()
        .or(kubeconfig.current_context.as_deref())
        .filter(|c| !c.is_empty())
    {
        None => Err(Error::Kubeconfig(format!(
            "no current context is set; choose one with --context ({available})"
        ))),
        Some(name) if !names.contains(&name) => Err(Error::Kubeconfig(format!(
            "context {name:?} is not in the kubeconfig ({available})"
        ))),
        Some(_) => Ok(()),
    }
}

/// Connect to the quorum cluster as kubectl would.
pub async fn quorum(global: &GlobalArgs) -> Result<Connection, Error> {
    let kubeconfig = load_kubeconfig(global)?;
    let options = options(global);
    check_context(&kubeconfig, &options)?;
    let context = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    connect(kubeconfig, &options, "quorum", context).await
}

/// Connect to a cluster described by a kubeconfig (its current context).
pub async fn connect(
    kubeconfig: Kubeconfig,
    options: &KubeConfigOptions,
    role: &'static str,
    context: Option<String>,
) -> Result<Connection, Error> {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let cluster = ClusterRef {
        role,
        context,
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned(),
    };
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config)
        .map_err(|e| Error::Other(format!("cannot build a client for {cluster}: {e}")))?;
    Ok(Connection {
        client,
        cluster,
        default_namespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(current: Option<&str>) -> Kubeconfig {
        let mut yaml = String::from(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: quorum\n  context: {cluster: q}\n- name: cluster1\n  context: {cluster: q}\n",
        );
        if let Some(c) = current {
            yaml.push_str(&format!("current-context: {c}\n"));
        }
        Kubeconfig::from_yaml(&yaml).unwrap()
    }

    fn context(name: Option<&str>) -> KubeConfigOptions {
        KubeConfigOptions {
            context: name.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn an_existing_context_or_current_context_passes() {
        assert!(check_context(&kubeconfig(None), &context(Some("quorum"))).is_ok());
        assert!(check_context(&kubeconfig(Some("cluster1")), &context(None)).is_ok());
    }

    #[test]
    fn an_unknown_context_is_named_with_the_ones_there_are() {
        let err = check_context(&kubeconfig(Some("quorum")), &context(Some("nope"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot load kubeconfig: context \"nope\" is not in the kubeconfig (its contexts: quorum, cluster1)"
        );
    }

    #[test]
    fn no_current_context_says_to_choose_one() {
        let err = check_context(&kubeconfig(None), &context(None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot load kubeconfig: no current context is set; choose one with --context (its contexts: quorum, cluster1)"
        );
    }
}
