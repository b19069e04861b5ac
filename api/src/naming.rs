//! Deterministic names for the DRBD resource of a VM and the DRBDVolume of each of its PVCs.
//!
//! # Scheme
//!
//! A name is `<readable>-<hash>`:
//!
//! - `<hash>` is the first 10 hex digits (40 bits) of SHA-256 over the *identity*: `ns/vm` for
//!   the resource, `ns/vm/pvc` for a DRBDVolume. `/` cannot occur in a Kubernetes name, so the
//!   identity is unambiguous: VM `a-b` in namespace `c` and VM `a` in namespace `b-c` have
//!   different identities, hence different hashes, even where their readable parts coincide.
//! - `<readable>` is `ns-vm` (resource) or `ns-vm-pvc` (DRBDVolume), lowercased, with every
//!   character outside `[a-z0-9-]` (such as `.` in a VM name) replaced by `-`, cut so the whole
//!   name fits its limit, and trimmed of leading and trailing `-`.
//!
//! The hash is always present, not only when a name is too long: a readable part alone can
//! collide through `-` separators at any length. Limits: 63 for the resource name (a DNS-1123
//! label, and also used as a label value), 253 for DRBDVolume object names (a DNS-1123
//! subdomain; ours are also labels-shaped, just longer).
//!
//! Example: VM `web-server` in `production` → resource `production-web-server-<hash>`, and its
//! PVC `web-server-data` → DRBDVolume `production-web-server-web-server-data-<hash>`.

use sha2::{Digest, Sha256};

/// Maximum length of a DRBD resource name (DNS-1123 label and label value).
pub const RESOURCE_NAME_MAX: usize = 63;
/// Maximum length of an object name (DNS-1123 subdomain).
pub const OBJECT_NAME_MAX: usize = 253;
/// Hex digits of the identity hash in every name.
pub const HASH_LEN: usize = 10;

fn identity_hash(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("/").as_bytes());
    let mut hex = String::with_capacity(HASH_LEN);
    for byte in digest.iter().take(HASH_LEN.div_ceil(2)) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(HASH_LEN);
    hex
}

fn build(parts: &[&str], max: usize) -> String {
    let hash = identity_hash(parts);
    let readable_max = max - HASH_LEN - 1;
    let mut readable: String = parts
        .join("-")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .take(readable_max)
        .collect();
    readable = readable.trim_matches('-').to_owned();
    if readable.is_empty() {
        format!("drbd-{hash}")
    } else {
        format!("{readable}-{hash}")
    }
}

/// Name of the DRBD resource shared by all PVCs of one VM (a consistency group). A valid
/// DNS-1123 label of at most 63 characters, so it is also a valid label value.
pub fn drbd_resource_name(vm_namespace: &str, vm_name: &str) -> String {
    build(&[vm_namespace, vm_name], RESOURCE_NAME_MAX)
}

/// Name of the DRBDVolume for one PVC of a VM: a valid DNS-1123 subdomain of at most 253
/// characters (made of label characters only).
pub fn drbd_volume_name(vm_namespace: &str, vm_name: &str, pvc_name: &str) -> String {
    build(&[vm_namespace, vm_name, pvc_name], OBJECT_NAME_MAX)
}

/// True for a DNS-1123 label: 1-63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// True for a DNS-1123 subdomain: at most 253 characters of dot-separated DNS-1123 labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label_unbounded)
}

/// True for a valid label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]` that
/// start and end alphanumeric (the apiserver rejects an object carrying any other value).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

// Subdomain segments follow the label alphabet; the subdomain's own length bound applies.
fn is_dns1123_label_unbounded(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn label_values_follow_the_apiserver_rule() {
        for ok in ["", "web-server", "Web_Server.1", &"a".repeat(63)] {
            assert!(is_label_value(ok), "{ok:?} should be a label value");
        }
        for bad in ["-web", "web-", "web/server", "web server", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad:?} should not be a label value");
        }
    }

    #[test]
    fn names_are_readable_deterministic_and_valid() {
        let resource = drbd_resource_name("production", "web-server");
        assert!(resource.starts_with("production-web-server-"), "{resource}");
        assert_eq!(resource, drbd_resource_name("production", "web-server"));
        assert_eq!(resource.len(), "production-web-server-".len() + HASH_LEN);
        assert!(is_dns1123_label(&resource));

        let volume = drbd_volume_name("production", "web-server", "web-server-data");
        assert!(
            volume.starts_with("production-web-server-web-server-data-"),
            "{volume}"
        );
        assert!(is_dns1123_subdomain(&volume));
    }

    #[test]
    fn length_limit_table() {
        let long63 = "a".repeat(63);
        let long253 = format!(
            "{}.{}.{}.{}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(61)
        );
        assert_eq!(long253.len(), 253);
        let cases: &[(&str, &str, &str)] = &[
            ("short", "production", "web-server"),
            ("63-char namespace and vm", &long63, &long63),
            ("253-char vm with dots", "production", &long253),
            ("253-char everything", &long63, &long253),
            ("uppercase and dots", "Prod", "Web.Server"),
            ("only separators survive as nothing", "-", "."),
        ];
        for (name, ns, vm) in cases {
            let resource = drbd_resource_name(ns, vm);
            assert!(resource.len() <= RESOURCE_NAME_MAX, "{name}: {resource}");
            assert!(is_dns1123_label(&resource), "{name}: {resource}");
            let volume = drbd_volume_name(ns, vm, &long253);
            assert!(volume.len() <= OBJECT_NAME_MAX, "{name}: {volume}");
            assert!(is_dns1123_subdomain(&volume), "{name}: {volume}");
            assert!(is_dns1123_label_unbounded(&volume), "{name}: {volume}");
        }
    }

    #[test]
    fn separator_ambiguities_do_not_collide() {
        type VmIdentity = (&'static str, &'static str);
        let pairs: &[(VmIdentity, VmIdentity)] = &[
            (("c", "a-b"), ("b-c", "a")),
            (("a-b", "c"), ("a", "b-c")),
            (("prod", "web.server"), ("prod", "web-server")),
            (("prod", "Web"), ("prod", "web")),
        ];
        for ((ns1, vm1), (ns2, vm2)) in pairs {
            assert_ne!(
                drbd_resource_name(ns1, vm1),
                drbd_resource_name(ns2, vm2),
                "{ns1}/{vm1} vs {ns2}/{vm2}"
            );
        }
        assert_ne!(
            drbd_volume_name("ns", "a", "b-c"),
            drbd_volume_name("ns", "a-b", "c")
        );
        assert_ne!(
            drbd_volume_name("ns-a", "b", "c"),
            drbd_volume_name("ns", "a-b", "c")
        );
    }

    #[test]
    fn long_names_with_a_common_prefix_do_not_collide() {
        let prefix = "x".repeat(100);
        let mut resources = BTreeSet::new();
        let mut volumes = BTreeSet::new();
        for i in 0..500 {
            let vm = format!("{prefix}-{i}");
            assert!(resources.insert(drbd_resource_name("production", &vm)));
            let pvc = format!("{}-{i}", "p".repeat(250));
            assert!(volumes.insert(drbd_volume_name("production", "vm", &pvc)));
        }
    }

    #[test]
    fn validators_reject_invalid_names() {
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad:?}");
        }
        for bad in ["", "a..b", ".a", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
        }
        assert!(is_dns1123_subdomain("a.b-c.d"));
    }
}
