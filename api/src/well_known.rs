//! Well-known names of the API: group and version, labels, annotations, the finalizer, the
//! node taint and default object names, spelled once for webhook, controller and plugin.

/// API group of every kind this project defines.
pub const GROUP: &str = "siterecovery.trilio.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every kind this project defines.
pub const API_VERSION: &str = "siterecovery.trilio.io/v1alpha1";

/// Label on ProtectionRequests and DRBDVolumes: the protected VM's name.
pub const LABEL_PROTECTED_VM: &str = "siterecovery.trilio.io/protected-vm";
/// Label on ProtectionRequests and DRBDVolumes: the protected VM's namespace on the primary cluster.
pub const LABEL_VM_NAMESPACE: &str = "siterecovery.trilio.io/vm-namespace";
/// Label on ProtectionRequests and DRBDVolumes: the primary cluster the VM runs on.
pub const LABEL_SOURCE_CLUSTER: &str = "siterecovery.trilio.io/source-cluster";

/// Annotation on the VirtualMachine: JSON of its volumes before activation, so unprotect (or a
/// failed activation) can put them back exactly.
pub const ANNOTATION_ORIGINAL_VOLUMES: &str = "siterecovery.trilio.io/original-volumes";

/// Annotation on the VirtualMachine: how it was run before activation (`runStrategy` word, or
/// `running=true` / `running=false` for VMs on the deprecated field), so the controller can
/// restore it after stopping the VM. Recorded before the VM is first stopped.
pub const ANNOTATION_ORIGINAL_RUN_STRATEGY: &str = "siterecovery.trilio.io/original-run-strategy";

/// Finalizer on ProtectionRequests: unprotect runs before the object goes away.
pub const FINALIZER: &str = "siterecovery.trilio.io/protection";

/// Node taint key set by the DRBD node agent while its resources come up.
pub const TAINT_NOT_READY: &str = "siterecovery.trilio.io/not-ready";
/// Effect of [`TAINT_NOT_READY`].
pub const TAINT_NOT_READY_EFFECT: &str = "NoSchedule";

/// Namespace on the quorum cluster where requests, policies and secrets live unless told otherwise.
pub const DEFAULT_PROTECTION_NAMESPACE: &str = "dr-deployment";
/// Default name of the Secret holding the primary cluster's kubeconfig.
pub const DEFAULT_PRIMARY_KUBECONFIG_SECRET: &str = "primary-kubeconfig";
/// Default name of the Secret holding the DR cluster's kubeconfig.
pub const DEFAULT_DR_KUBECONFIG_SECRET: &str = "dr-kubeconfig";
/// Key inside the kubeconfig Secrets.
pub const KUBECONFIG_SECRET_KEY: &str = "kubeconfig";

/// First port of the default DRBD port range.
pub const DEFAULT_PORT_RANGE_START: i32 = 7000;
/// Last port (inclusive) of the default DRBD port range.
pub const DEFAULT_PORT_RANGE_END: i32 = 7999;
/// The only DRBD replication protocol supported: synchronous, RPO 0.
pub const PROTOCOL_C: &str = "C";
