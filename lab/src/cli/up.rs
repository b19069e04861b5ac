//! `protect-lab-apiserver up`: the product's world (`protect_lab_apiserver::world`) on a real-time clock.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use protect_lab_apiserver::world::{
    Clock, DR, POLICY_NAME, PRIMARY, PROTECTION_NAMESPACE, QUORUM, World, WorldOptions,
};
use protect_lab_simulators::Bandwidth;
use protect_lab_simulators::objects::quantity_bytes;

/// Default resync bandwidth: the guide's 100Gi data disk syncs in about 30 s, so a demo shows
/// Syncing without a long wait (DRBD's own default, `c-max-rate`, is 100Mi per second).
pub const DEFAULT_SYNC_BANDWIDTH: &str = "3.5Gi";

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Directory for the lab's state; the kubeconfig is written to DIR/kubeconfig.
    #[arg(long, default_value = "lab-state")]
    pub dir: PathBuf,

    /// DRBD resync bandwidth per volume, bytes per second as a Kubernetes quantity (e.g. 100Mi,
    /// DRBD's default c-max-rate), or `instant`.
    #[arg(long, default_value = DEFAULT_SYNC_BANDWIDTH, value_parser = parse_bandwidth)]
    pub sync_bandwidth: Bandwidth,

    /// Interval between simulator passes, in milliseconds (simulated time runs at real speed).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub tick_ms: u64,
}

/// `instant`, or a quantity of bytes per second.
pub fn parse_bandwidth(s: &str) -> Result<Bandwidth, String> {
    if s.eq_ignore_ascii_case("instant") {
        return Ok(Bandwidth::Instant);
    }
    match quantity_bytes(s) {
        Some(0) => Err("the bandwidth must be above 0 (use `instant` for no limit)".into()),
        Some(bytes) => Ok(Bandwidth::BytesPerSec(bytes)),
        None => Err(format!(
            "{s:?} is neither `instant` nor a quantity such as 100Mi or 3.5Gi"
        )),
    }
}

fn describe(bandwidth: Bandwidth) -> String {
    match bandwidth {
        Bandwidth::Instant => "instant".into(),
        Bandwidth::BytesPerSec(b) => format!("{} MiB/s per volume", b / (1 << 20)),
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let world = World::start(WorldOptions {
        bandwidth: args.sync_bandwidth,
        clock: Clock::Realtime {
            period: Duration::from_millis(args.tick_ms),
        },
    })
    .await
    .context("starting the lab")?;
    let kubeconfig = args.dir.join("kubeconfig");
    world
        .lab()
        .write_kubeconfig(&kubeconfig)
        .with_context(|| format!("writing {}", kubeconfig.display()))?;
    let k = format!("kubectl --kubeconfig {}", kubeconfig.display());
    println!("protect-lab is serving:");
    for cluster in world.lab().clusters() {
        println!("  {:<9} {}", cluster.name(), cluster.url());
    }
    println!();
    println!("seeded:");
    for line in world.seeded() {
        println!("  {line}");
    }
    println!();
    println!(
        "simulators on {PRIMARY} and {DR}: KubeVirt, DRBD Operator + node agent, storage provisioner; DRBD resync {}",
        describe(args.sync_bandwidth)
    );
    println!("kubeconfig: {}", kubeconfig.display());
    println!();
    println!("try:");
    println!("  {k} --context {PRIMARY} get vm,vmi -n production");
    println!("  {k} --context {PRIMARY} get pvc -n production -o wide");
    println!(
        "  {k} --context {QUORUM} get drbdreplicationpolicies -n {PROTECTION_NAMESPACE} -o yaml"
    );
    println!("  {k} --context {QUORUM} get secret -n {PROTECTION_NAMESPACE}");
    println!("  {k} --context {QUORUM} get pr -n {PROTECTION_NAMESPACE} -w");
    println!("  {k} --context {DR} get drbdvolumes,pvc -n production -w");
    println!(
        "(policy {POLICY_NAME}; the protection controller and webhook are not part of the lab yet)"
    );
    println!();
    println!("Ctrl-C stops the lab.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping");
    world.shutdown().await;
    println!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_are_quantities_per_second_or_instant() {
        assert_eq!(parse_bandwidth("instant"), Ok(Bandwidth::Instant));
        assert_eq!(
            parse_bandwidth("100Mi"),
            Ok(Bandwidth::BytesPerSec(100 << 20))
        );
        assert!(parse_bandwidth("0").is_err());
        assert!(parse_bandwidth("fast").is_err());
    }

    #[test]
    fn the_default_bandwidth_syncs_the_guides_100gi_disk_in_about_30_seconds() {
        let Ok(Bandwidth::BytesPerSec(rate)) = parse_bandwidth(DEFAULT_SYNC_BANDWIDTH) else {
            panic!("default bandwidth")
        };
        let seconds = (100u64 << 30) / rate;
        assert!((25..=35).contains(&seconds), "{seconds} s");
    }
}
