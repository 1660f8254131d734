//! Kubernetes objects and pod specs as typed views over loaded documents.
//!
//! Every document with `apiVersion` and `kind` is an object; `kind: List` contributes its
//! `items`. Workload kinds expose their pod spec (the pod template for controllers, the job
//! template's pod template for CronJob) as a [`PodSpec`], so pod rules are written once.
//! Security-context inheritance is implemented here, once, exactly as Kubernetes applies
//! it: the container's `securityContext` wins; for `runAsUser`, `runAsGroup`,
//! `runAsNonRoot`, `seLinuxOptions`, `seccompProfile`, `appArmorProfile` and
//! `windowsOptions` the pod's `securityContext` is the fallback; the other fields
//! (`privileged`, `allowPrivilegeEscalation`, `capabilities`, `readOnlyRootFilesystem`,
//! `procMount`) exist only per container.

use crate::audit::finding::{FileId, Loc};
use crate::audit::yaml::{Document, Node};

/// One Kubernetes object of the run.
#[derive(Clone, Copy, Debug)]
pub struct Object<'a> {
    pub file: FileId,
    pub node: &'a Node,
    pub kind: &'a str,
    pub api_version: &'a str,
    pub name: &'a str,
    /// `None` when the manifest does not say (the namespace chosen at apply time).
    pub namespace: Option<&'a str>,
}

impl<'a> Object<'a> {
    fn from_node(file: FileId, node: &'a Node) -> Option<Object<'a>> {
        let kind = node.get("kind")?.as_str()?;
        let api_version = node.get("apiVersion")?.as_str()?;
        let meta = node.get("metadata");
        Some(Object {
            file,
            node,
            kind,
            api_version,
            name: meta
                .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
                .and_then(Node::as_str)
                .unwrap_or(""),
            namespace: meta.and_then(|m| m.get("namespace")).and_then(Node::as_str),
        })
    }

    /// The namespace the object lands in when applied without `-n` (`default`).
    pub fn effective_namespace(&self) -> &'a str {
        self.namespace.unwrap_or("default")
    }

    /// `Deployment prod/api`, the resource name used in findings and exceptions.
    pub fn resource(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    pub fn metadata(&self) -> Option<&'a Node> {
        self.node.get("metadata")
    }

    pub fn spec(&self) -> Option<&'a Node> {
        self.node.get("spec")
    }

    /// The key node of `kind:`: where findings about a missing field of the whole object
    /// point.
    pub fn kind_loc(&self) -> Loc {
        self.node.entry("kind").map_or(self.node.loc, |e| e.key.loc)
    }

    /// The pod spec of Pods and workload controllers, `None` for other kinds.
    pub fn pod_spec(&self) -> Option<PodSpec<'a>> {
        let (meta, spec) = match self.kind {
            "Pod" => (self.metadata(), self.spec()?),
            "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "ReplicationController"
            | "Job" => {
                let t = self.spec()?.get("template")?;
                (t.get("metadata"), t.get("spec")?)
            }
            "CronJob" => {
                let t = self.spec()?.path(&["jobTemplate", "spec", "template"])?;
                (t.get("metadata"), t.get("spec")?)
            }
            _ => return None,
        };
        spec.as_map()?;
        Some(PodSpec {
            object: *self,
            meta,
            spec,
        })
    }
}

/// Every object of a set of documents, `kind: List` items included.
pub fn objects<'a>(file: FileId, docs: &'a [Document]) -> Vec<Object<'a>> {
    let mut out = Vec::new();
    for d in docs {
        let Some(obj) = Object::from_node(file, &d.root) else {
            continue;
        };
        if obj.kind == "List" || obj.kind.ends_with("List") && obj.node.get("items").is_some() {
            for item in obj.node.get("items").and_then(Node::as_seq).unwrap_or(&[]) {
                out.extend(Object::from_node(file, item));
            }
        } else {
            out.push(obj);
        }
    }
    out
}

/// Where a container is declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Regular,
    Init,
    /// An init container with `restartPolicy: Always` (a native sidecar).
    Sidecar,
    Ephemeral,
}

/// A pod spec (of a Pod or a workload's pod template).
#[derive(Clone, Copy, Debug)]
pub struct PodSpec<'a> {
    pub object: Object<'a>,
    /// Pod (template) metadata: labels and annotations.
    pub meta: Option<&'a Node>,
    pub spec: &'a Node,
}

/// One container of a pod spec.
#[derive(Clone, Copy, Debug)]
pub struct Container<'a> {
    pub node: &'a Node,
    pub name: &'a str,
    pub kind: ContainerKind,
    pub pod: PodSpec<'a>,
}

/// A security-context value and where it was set.
#[derive(Clone, Copy, Debug)]
pub struct Setting<'a> {
    pub node: &'a Node,
    /// True when inherited from the pod-level `securityContext`.
    pub from_pod: bool,
}

/// Fields of `securityContext` that a container inherits from the pod.
pub const INHERITED_FIELDS: &[&str] = &[
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "windowsOptions",
];

impl<'a> PodSpec<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.spec.get(key)
    }

    /// The pod-level `securityContext`.
    pub fn security_context(&self) -> Option<&'a Node> {
        self.spec.get("securityContext")
    }

    /// Labels of the pod (template).
    pub fn labels(&self) -> Vec<(&'a str, &'a str)> {
        self.meta
            .and_then(|m| m.get("labels"))
            .map(|l| {
                l.str_entries()
                    .map(|(k, e)| (k, e.value.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn annotations(&self) -> Vec<(&'a str, &'a Node)> {
        self.meta
            .and_then(|m| m.get("annotations"))
            .map(|a| a.str_entries().map(|(k, e)| (k, &e.value)).collect())
            .unwrap_or_default()
    }

    /// `hostUsers: false` puts the pod in a user namespace, which relaxes several checks.
    pub fn in_user_namespace(&self) -> bool {
        self.get("hostUsers").and_then(Node::as_bool) == Some(false)
    }

    /// Where "missing field" findings about the pod point: the `spec:` key of the pod
    /// (template), falling back to the object's `kind`.
    pub fn loc(&self) -> Loc {
        // The spec node itself starts at its first key; the `spec:` key is the mapping entry
        // that holds it, one level up (the object for Pods, the pod template otherwise).
        let holder = match self.object.kind {
            "Pod" => Some(self.object.node),
            "CronJob" => self
                .object
                .node
                .path(&["spec", "jobTemplate", "spec", "template"]),
            _ => self.object.node.path(&["spec", "template"]),
        };
        holder
            .and_then(|h| h.entry("spec"))
            .map_or(self.object.kind_loc(), |e| e.key.loc)
    }

    /// All containers: init (incl. native sidecars), regular and ephemeral, in that order.
    /// An iterator, not a vector: two dozen rules walk the containers of every pod, and a
    /// large run has tens of thousands of pods.
    pub fn containers(&self) -> impl Iterator<Item = Container<'a>> + Clone + 'a {
        let pod = *self;
        [
            ("initContainers", ContainerKind::Init),
            ("containers", ContainerKind::Regular),
            ("ephemeralContainers", ContainerKind::Ephemeral),
        ]
        .into_iter()
        .flat_map(move |(field, default_kind)| {
            pod.get(field)
                .and_then(Node::as_seq)
                .unwrap_or(&[])
                .iter()
                .filter(|node| node.as_map().is_some())
                .map(move |node| {
                    let kind = if default_kind == ContainerKind::Init
                        && node.get("restartPolicy").and_then(Node::as_str) == Some("Always")
                    {
                        ContainerKind::Sidecar
                    } else {
                        default_kind
                    };
                    Container {
                        node,
                        name: node.get("name").and_then(Node::as_str).unwrap_or(""),
                        kind,
                        pod,
                    }
                })
        })
    }

    /// Volumes of the pod, as `(name, volume node)`.
    pub fn volumes(&self) -> Vec<(&'a str, &'a Node)> {
        self.get("volumes")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|v| (v.get("name").and_then(Node::as_str).unwrap_or(""), v))
            .collect()
    }

    /// The service account the pod runs as (`default` when unset).
    pub fn service_account(&self) -> &'a str {
        self.get("serviceAccountName")
            .or_else(|| self.get("serviceAccount"))
            .and_then(Node::as_str)
            .unwrap_or("default")
    }
}

impl<'a> Container<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key)
    }

    pub fn security_context(&self) -> Option<&'a Node> {
        self.node.get("securityContext")
    }

    /// The effective value of a `securityContext` field, with pod-level inheritance for the
    /// fields Kubernetes inherits.
    pub fn setting(&self, field: &str) -> Option<Setting<'a>> {
        if let Some(n) = self.security_context().and_then(|sc| sc.get(field)) {
            if !n.is_null() {
                return Some(Setting {
                    node: n,
                    from_pod: false,
                });
            }
        }
        if INHERITED_FIELDS.contains(&field) {
            if let Some(n) = self.pod.security_context().and_then(|sc| sc.get(field)) {
                if !n.is_null() {
                    return Some(Setting {
                        node: n,
                        from_pod: true,
                    });
                }
            }
        }
        None
    }

    /// A container-only field of `securityContext` (no inheritance).
    pub fn own_setting(&self, path: &[&str]) -> Option<&'a Node> {
        self.security_context()?.path(path).filter(|n| !n.is_null())
    }

    /// `container api (Deployment prod/api)`.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            ContainerKind::Regular => "container",
            ContainerKind::Init => "init container",
            ContainerKind::Sidecar => "sidecar container",
            ContainerKind::Ephemeral => "ephemeral container",
        };
        format!("{what} `{}`", self.name)
    }

    /// Where "missing field" findings about the container point: its `name:` value, or the
    /// container item.
    pub fn loc(&self) -> Loc {
        self.node.get("name").map_or(self.node.loc, |n| n.loc)
    }

    pub fn image(&self) -> Option<&'a Node> {
        self.get("image")
    }
}

/// The `# Source: chart/templates/x.yaml` comments that `helm template` writes at the top
/// of each document, and the `---` separators between documents, in line order. Built once
/// per file; [`HelmSources::at`] then answers per finding with a binary search.
pub struct HelmSources<'t> {
    /// `(1-based line, Some(path))` for a Source comment, `(line, None)` for a separator.
    marks: Vec<(u32, Option<&'t str>)>,
}

impl<'t> HelmSources<'t> {
    pub fn scan(text: &'t str) -> HelmSources<'t> {
        let mut marks = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let t = l.trim();
            if let Some(path) = t.strip_prefix("# Source:") {
                marks.push((i as u32 + 1, Some(path.trim())));
            } else if t == "---" || t.starts_with("--- ") {
                marks.push((i as u32 + 1, None));
            }
        }
        HelmSources { marks }
    }

    /// Every template named by a Source comment, in file order (repeats included).
    pub fn templates(&self) -> impl Iterator<Item = &'t str> + '_ {
        self.marks.iter().filter_map(|(_, path)| *path)
    }

    /// The template the document containing `line` was rendered from, with the comment's
    /// line: the nearest mark at or above `line`, when it is a Source comment.
    pub fn at(&self, line: u32) -> Option<(u32, &'t str)> {
        let idx = self.marks.partition_point(|(l, _)| *l <= line);
        let (l, path) = self.marks.get(idx.checked_sub(1)?)?;
        path.map(|p| (*l, p))
    }
}

/// Does a label selector (`matchLabels` + `matchExpressions`) select `labels`?
/// An empty selector (`{}`) selects everything, as the API defines.
pub fn selector_matches(selector: &Node, labels: &[(&str, &str)]) -> bool {
    let get = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
    if let Some(ml) = selector.get("matchLabels") {
        for (k, e) in ml.str_entries() {
            if get(k) != Some(e.value.as_str().unwrap_or("")) {
                return false;
            }
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Node::as_seq) {
        for ex in exprs {
            let key = ex.get("key").and_then(Node::as_str).unwrap_or("");
            let values: Vec<&str> = ex
                .get("values")
                .and_then(Node::as_seq)
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .collect();
            let ok = match ex.get("operator").and_then(Node::as_str).unwrap_or("") {
                "In" => get(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::yaml::{load, Limits};

    #[test]
    fn pod_templates_and_inheritance() {
        let docs = load(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: ops}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata: {labels: {app: c}}\n        spec:\n          securityContext: {runAsNonRoot: true, runAsUser: 10}\n          initContainers:\n          - name: side\n            restartPolicy: Always\n          containers:\n          - name: main\n            securityContext: {runAsUser: 0, privileged: true}\n",
            0,
            Limits::default(),
        )
        .unwrap();
        let objs = objects(0, &docs);
        let pod = objs[0].pod_spec().unwrap();
        assert_eq!(objs[0].resource(), "CronJob ops/c");
        let cs: Vec<_> = pod.containers().collect();
        assert_eq!(cs[0].kind, ContainerKind::Sidecar);
        assert_eq!(cs[1].setting("runAsUser").unwrap().node.as_i64(), Some(0));
        assert!(cs[0].setting("runAsUser").unwrap().from_pod);
        assert!(cs[0].setting("privileged").is_none());
        assert_eq!(pod.labels(), vec![("app", "c")]);
    }

    #[test]
    fn helm_sources() {
        let text =
            "---\n# Source: chart/templates/a.yaml\napiVersion: v1\nkind: Pod\n---\nkind: Pod\n";
        let h = HelmSources::scan(text);
        assert_eq!(h.at(4), Some((2, "chart/templates/a.yaml")));
        assert_eq!(h.at(6), None);
        assert_eq!(h.at(1), None);
    }

    #[test]
    fn selectors() {
        let docs = load(
            "a: {}\nb: {matchLabels: {app: x}, matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}\n",
            0,
            Limits::default(),
        )
        .unwrap();
        let r = &docs[0].root;
        assert!(selector_matches(r.get("a").unwrap(), &[]));
        assert!(selector_matches(r.get("b").unwrap(), &[("app", "x")]));
        assert!(!selector_matches(
            r.get("b").unwrap(),
            &[("app", "x"), ("tier", "db")]
        ));
    }
}
