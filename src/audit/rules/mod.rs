//! The rule registry and the interface every rule implements.
//!
//! A rule is one file in this directory, named after its id. It declares its metadata with
//! [`declare_rule!`] (whose doc comment *is* the rule's documentation, with the headings
//! What it does / Why it matters / Example / Fix / References) and implements [`Rule`] at the
//! granularity it needs. Adding a rule means adding its file and one line to [`REGISTRY`].
//! Rules blame nodes (their [`Loc`]); they never compute line numbers.

use crate::audit::finding::{Finding, Loc, Related, Severity};
use crate::audit::source::aci::ContainerGroup;
use crate::audit::source::compose::{ComposeProject, Service};
use crate::audit::source::dockerfile::Dockerfile;
use crate::audit::source::kubernetes::{Object, PodSpec};
use crate::audit::sources::SourceMap;

pub mod docs;
pub mod meta;

pub use meta::{ParamDefault, ParamMeta, RuleMeta, Target};

/// Declares a rule's unit struct and its static [`RuleMeta`] (`META` in the rule's module).
/// The doc comment becomes `RuleMeta::doc`.
#[macro_export]
macro_rules! declare_rule {
    (
        $(#[doc = $doc:expr])*
        $name:ident {
            id: $id:literal,
            title: $title:literal,
            category: $cat:ident,
            severity: $sev:ident,
            targets: [$($target:ident),* $(,)?],
            params: [$($param:expr),* $(,)?] $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        pub struct $name;

        /// Static metadata of this rule.
        pub static META: $crate::audit::rules::RuleMeta = $crate::audit::rules::RuleMeta {
            id: $id,
            title: $title,
            category: $crate::audit::finding::Category::$cat,
            severity: $crate::audit::finding::Severity::$sev,
            targets: &[$($crate::audit::rules::Target::$target),*],
            doc: concat!($($doc, "\n"),*),
            params: &[$($param),*],
        };
    };
}

/// A resolved parameter value (policy value, or the rule's default).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    StrList(Vec<String>),
    IntList(Vec<i64>),
    Int(i64),
    Bool(bool),
}

impl ParamValue {
    pub fn from_default(d: ParamDefault) -> ParamValue {
        match d {
            ParamDefault::StrList(v) => {
                ParamValue::StrList(v.iter().map(|s| s.to_string()).collect())
            }
            ParamDefault::IntList(v) => ParamValue::IntList(v.to_vec()),
            ParamDefault::Int(i) => ParamValue::Int(i),
            ParamDefault::Bool(b) => ParamValue::Bool(b),
        }
    }
}

/// A rule's parameters for this run, aligned with `RuleMeta::params`.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    pub meta: &'static RuleMeta,
    pub values: &'a [ParamValue],
}

impl<'a> Params<'a> {
    fn value(&self, name: &str) -> Option<&'a ParamValue> {
        let i = self.meta.params.iter().position(|p| p.name == name)?;
        self.values.get(i)
    }

    pub fn str_list(&self, name: &str) -> &'a [String] {
        match self.value(name) {
            Some(ParamValue::StrList(v)) => v,
            _ => &[],
        }
    }

    pub fn int_list(&self, name: &str) -> &'a [i64] {
        match self.value(name) {
            Some(ParamValue::IntList(v)) => v,
            _ => &[],
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.value(name) {
            Some(ParamValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.value(name) {
            Some(ParamValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

/// Collects the findings of one rule on one input.
pub struct Emitter<'a> {
    meta: &'static RuleMeta,
    severity: Severity,
    out: &'a mut Vec<Finding>,
}

impl<'a> Emitter<'a> {
    pub fn new(meta: &'static RuleMeta, severity: Severity, out: &'a mut Vec<Finding>) -> Self {
        Emitter {
            meta,
            severity,
            out,
        }
    }

    /// Records a finding at `loc` and returns it so the caller can add help, related
    /// locations and the resource name.
    pub fn emit(&mut self, loc: Loc, message: impl Into<String>) -> FindingBuilder<'_> {
        self.out.push(Finding {
            rule: self.meta.id,
            category: self.meta.category,
            severity: self.severity,
            message: message.into(),
            help: None,
            loc,
            related: Vec::new(),
            resource: None,
            redact: false,
        });
        let last = self.out.len() - 1;
        FindingBuilder {
            finding: &mut self.out[last],
        }
    }
}

/// Chained setters on a just-emitted finding.
pub struct FindingBuilder<'a> {
    finding: &'a mut Finding,
}

impl FindingBuilder<'_> {
    pub fn help(self, help: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.finding.help = Some(help.into());
        self
    }

    pub fn resource(self, resource: impl Into<String>) -> Self {
        self.finding.resource = Some(resource.into());
        self
    }

    pub fn related(self, loc: Loc, message: impl Into<std::sync::Arc<str>>) -> Self {
        self.finding.related.push(Related {
            loc,
            message: message.into(),
        });
        self
    }

    /// The blamed token is a secret value: reporters must not print the text under it.
    pub fn redact(self) -> Self {
        self.finding.redact = true;
        self
    }

    /// Reports this finding one severity step below the rule's level (never below info), for
    /// a lesser aspect of the same hazard; relative, so a policy's level still governs it.
    pub fn one_level_lower(self) -> Self {
        use Severity::*;
        let s = &mut self.finding.severity;
        *s = match *s {
            Critical => High,
            High => Medium,
            Medium => Low,
            Low | Info => Info,
        };
        self
    }
}

/// What a compose rule sees.
pub struct ComposeCx<'a> {
    pub project: &'a ComposeProject,
    pub sources: &'a SourceMap,
    pub params: Params<'a>,
}

/// ServiceAccount objects by `(effective namespace, name)`; see [`KubeCx::service_accounts`].
pub type ServiceAccounts<'a> = std::collections::HashMap<(&'a str, &'a str), Vec<Object<'a>>>;

/// What a Kubernetes rule sees: the object at hand (through the hook's arguments) and every
/// Kubernetes object of the run, for rules that reason across objects and files.
pub struct KubeCx<'a> {
    pub objects: &'a [Object<'a>],
    /// The run's ServiceAccounts (every copy, when a name repeats), built once so per-pod
    /// lookups do not scan every object of the run.
    pub service_accounts: &'a ServiceAccounts<'a>,
    pub sources: &'a SourceMap,
    pub params: Params<'a>,
}

/// What an Azure Container Instances rule sees.
pub struct AciCx<'a> {
    pub sources: &'a SourceMap,
    pub params: Params<'a>,
}

/// A rule. Implement the hooks for the inputs the rule reads; the rest default to nothing.
pub trait Rule: Sync + Send {
    fn meta(&self) -> &'static RuleMeta;

    /// Called once per compose service.
    fn compose_service(&self, _cx: &ComposeCx<'_>, _svc: &Service<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per compose project, for rules that reason across services.
    fn compose_project(&self, _cx: &ComposeCx<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per Kubernetes object.
    fn kube_object(&self, _cx: &KubeCx<'_>, _obj: &Object<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per pod spec (Pods and the pod templates of workload controllers).
    fn kube_pod(&self, _cx: &KubeCx<'_>, _pod: &PodSpec<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per run with every Kubernetes object, for cross-object rules.
    fn kube_workspace(&self, _cx: &KubeCx<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per Azure Container Instances container group.
    fn aci_group(&self, _cx: &AciCx<'_>, _group: &ContainerGroup<'_>, _out: &mut Emitter<'_>) {}

    /// Called once per Dockerfile (or Containerfile).
    fn dockerfile(&self, _cx: &DockerfileCx<'_>, _df: &Dockerfile<'_>, _out: &mut Emitter<'_>) {}
}

/// What a Dockerfile rule sees (the Dockerfile itself comes through the hook's arguments).
pub struct DockerfileCx<'a> {
    pub sources: &'a SourceMap,
    pub params: Params<'a>,
}

pub mod aci_inline_secret_volume;
pub mod aci_no_managed_identity;
pub mod aci_public_ip;
pub mod aci_registry_password;
pub mod add_from_url;
pub mod capabilities_not_dropped;
pub mod capability_added;
pub mod cluster_admin_binding;
pub mod data_service_on_exposed_network;
pub mod data_service_port_published;
pub mod default_network_only;
pub mod default_service_account;
pub mod docker_socket_mounted;
pub mod host_device_exposed;
pub mod host_namespace_shared;
pub mod host_path_volume;
pub mod host_port_used;
pub mod image_not_pinned_by_digest;
pub mod image_tag_mutable;
pub mod ingress_without_tls;
pub mod load_balancer_unrestricted;
pub mod namespace_without_default_deny;
pub mod network_policy_selects_nothing;
pub mod node_port_service;
pub mod pipe_to_shell;
pub mod plaintext_http_published;
pub mod pod_not_selected_by_network_policy;
pub mod policy_exception_expired;
pub mod port_published_all_interfaces;
pub mod privilege_escalation_allowed;
pub mod privileged_mode;
pub mod probe_host_override;
pub mod proc_mount_unmasked;
pub mod pss;
pub mod rbac_escalation_verbs;
pub mod rbac_secrets_read;
pub mod rbac_wildcard;
pub mod restricted_volume_type;
pub mod runs_as_root;
pub mod seccomp_profile_missing;
pub mod secret_in_environment;
pub mod secret_key_ref_in_env;
pub mod secret_manifest_committed;
pub mod secret_on_disk_emptydir;
pub mod secret_volume_writable;
pub mod security_profile_disabled;
pub mod selinux_options_custom;
pub mod sensitive_host_path_mounted;
pub mod service_account_token_automounted;
pub mod service_external_ips;
pub mod sudo_used;
pub mod suppression_missing_reason;
pub mod unsafe_sysctl;
pub mod unused_suppression;
pub mod windows_host_process;
pub mod writable_host_mount;
pub mod writable_root_filesystem;

/// Every rule, one line each. Order is the order of `elastics-sec rules`.
pub static REGISTRY: &[&dyn Rule] = &[
    // least-privilege
    &privileged_mode::PrivilegedMode,
    &capability_added::CapabilityAdded,
    &capabilities_not_dropped::CapabilitiesNotDropped,
    &privilege_escalation_allowed::PrivilegeEscalationAllowed,
    &security_profile_disabled::SecurityProfileDisabled,
    &runs_as_root::RunsAsRoot,
    &sudo_used::SudoUsed,
    &writable_root_filesystem::WritableRootFilesystem,
    &host_namespace_shared::HostNamespaceShared,
    &docker_socket_mounted::DockerSocketMounted,
    &sensitive_host_path_mounted::SensitiveHostPathMounted,
    &writable_host_mount::WritableHostMount,
    &host_device_exposed::HostDeviceExposed,
    &host_path_volume::HostPathVolume,
    &proc_mount_unmasked::ProcMountUnmasked,
    &selinux_options_custom::SelinuxOptionsCustom,
    &seccomp_profile_missing::SeccompProfileMissing,
    &unsafe_sysctl::UnsafeSysctl,
    &windows_host_process::WindowsHostProcess,
    &restricted_volume_type::RestrictedVolumeType,
    &aci_no_managed_identity::AciNoManagedIdentity,
    &service_account_token_automounted::ServiceAccountTokenAutomounted,
    &default_service_account::DefaultServiceAccount,
    &rbac_wildcard::RbacWildcard,
    &rbac_escalation_verbs::RbacEscalationVerbs,
    &rbac_secrets_read::RbacSecretsRead,
    &cluster_admin_binding::ClusterAdminBinding,
    // network-isolation
    &port_published_all_interfaces::PortPublishedAllInterfaces,
    &data_service_port_published::DataServicePortPublished,
    &default_network_only::DefaultNetworkOnly,
    &data_service_on_exposed_network::DataServiceOnExposedNetwork,
    &host_port_used::HostPortUsed,
    &probe_host_override::ProbeHostOverride,
    &aci_public_ip::AciPublicIp,
    &pod_not_selected_by_network_policy::PodNotSelectedByNetworkPolicy,
    &namespace_without_default_deny::NamespaceWithoutDefaultDeny,
    &network_policy_selects_nothing::NetworkPolicySelectsNothing,
    &load_balancer_unrestricted::LoadBalancerUnrestricted,
    &node_port_service::NodePortService,
    &service_external_ips::ServiceExternalIps,
    // transport-security
    &plaintext_http_published::PlaintextHttpPublished,
    &ingress_without_tls::IngressWithoutTls,
    // secrets-hygiene
    &secret_in_environment::SecretInEnvironment,
    &aci_registry_password::AciRegistryPassword,
    &aci_inline_secret_volume::AciInlineSecretVolume,
    &secret_key_ref_in_env::SecretKeyRefInEnv,
    &secret_manifest_committed::SecretManifestCommitted,
    &secret_on_disk_emptydir::SecretOnDiskEmptydir,
    &secret_volume_writable::SecretVolumeWritable,
    // supply-chain
    &image_tag_mutable::ImageTagMutable,
    &image_not_pinned_by_digest::ImageNotPinnedByDigest,
    &add_from_url::AddFromUrl,
    &pipe_to_shell::PipeToShell,
    // policy (engine-level findings)
    &suppression_missing_reason::SuppressionMissingReason,
    &unused_suppression::UnusedSuppression,
    &policy_exception_expired::PolicyExceptionExpired,
];

/// Looks a rule up by id.
pub fn find(id: &str) -> Option<&'static dyn Rule> {
    REGISTRY.iter().copied().find(|r| r.meta().id == id)
}

/// Shared helpers for image references, used by the supply-chain and data-service rules.
pub mod image {
    /// Images that are data services (databases, caches, brokers), by last path component.
    pub const DATA_SERVICE_IMAGES: &[&str] = &[
        "redis",
        "redis-stack",
        "redis-stack-server",
        "valkey",
        "keydb",
        "dragonfly",
        "postgres",
        "postgis",
        "timescaledb",
        "mysql",
        "mariadb",
        "percona-server",
        "mongo",
        "mongodb-community-server",
        "memcached",
        "elasticsearch",
        "opensearch",
        "rabbitmq",
        "kafka",
        "cp-kafka",
        "cp-server",
        "redpanda",
        "zookeeper",
        "cp-zookeeper",
        "cassandra",
        "scylla",
        "couchdb",
        "couchbase",
        "influxdb",
        "clickhouse-server",
        "questdb",
        "etcd",
        "minio",
        "nats",
        "mssql-server",
        "neo4j",
        "cockroach",
        "arangodb",
        "solr",
        "pulsar",
        "activemq",
        "artemis",
        "vault",
        "consul",
    ];

    /// An image reference split into its parts.
    #[derive(Debug, PartialEq, Eq)]
    pub struct ImageRef<'a> {
        /// Registry and path, without tag or digest (`myregistry.azurecr.io/myapp`).
        pub repository: &'a str,
        pub tag: Option<&'a str>,
        pub digest: Option<&'a str>,
    }

    impl<'a> ImageRef<'a> {
        pub fn parse(s: &'a str) -> ImageRef<'a> {
            let s = s.trim();
            let (rest, digest) = match s.split_once('@') {
                Some((r, d)) => (r, Some(d)),
                None => (s, None),
            };
            // A `:` after the last `/` is a tag; before it, a registry port.
            let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
            let (repository, tag) = match rest[last_slash..].rfind(':') {
                Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
                None => (rest, None),
            };
            ImageRef {
                repository,
                tag,
                digest,
            }
        }

        /// The last path component (`redis` for `docker.io/bitnami/redis`).
        pub fn name(&self) -> &'a str {
            self.repository
                .rsplit('/')
                .next()
                .unwrap_or(self.repository)
        }

        /// True when pinned by a well-formed content digest.
        pub fn pinned(&self) -> bool {
            self.digest.is_some_and(|d| {
                d.split_once(':').is_some_and(|(alg, hex)| {
                    !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
                })
            })
        }
    }

    /// Does the image run one of the `names` (data services like redis or postgres)?
    pub fn is_one_of(image: &str, names: &[String]) -> bool {
        let name = ImageRef::parse(image).name().to_ascii_lowercase();
        names.contains(&name)
    }

    #[cfg(test)]
    mod tests {
        use super::ImageRef;

        #[test]
        fn parses_references() {
            let r = ImageRef::parse("myregistry.azurecr.io/myapp:latest");
            assert_eq!(
                (r.repository, r.tag),
                ("myregistry.azurecr.io/myapp", Some("latest"))
            );
            let r = ImageRef::parse("localhost:5000/app");
            assert_eq!((r.repository, r.tag), ("localhost:5000/app", None));
            let r = ImageRef::parse(
                "redis:7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            );
            assert!(r.pinned());
            assert_eq!(r.tag, Some("7"));
            assert_eq!(ImageRef::parse("docker.io/bitnami/redis:7").name(), "redis");
        }
    }
}
