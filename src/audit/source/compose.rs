//! Compose projects: interpolation, `extends`, override-file merging, and typed views of
//! services, ports, volumes and networks.
//!
//! A project is one or more compose files merged in order, as `docker compose -f A -f B`
//! does (and as it does implicitly with `compose.override.yaml` next to `compose.yaml`).
//! The pipeline, per file, then across files:
//!
//! 1. **Interpolation** of every scalar value (not keys) from the process environment and the
//!    `.env` next to the first file; the text as written is kept in `Scalar::raw` so secret
//!    rules can tell a `${VAR}` reference from a literal.
//! 2. **Normalisation** of the list forms of `environment`, `labels`, `build.args` and
//!    `sysctls` (`KEY=VALUE` items) into mappings, with key and value locations computed
//!    inside the item, so merging and rules see one shape.
//! 3. **`extends`** within the same file (string or `{service: …}` form), recursively, with
//!    cycle detection. `extends.file` (another file) is not followed; the service keeps its
//!    own keys and a project note says so.
//! 4. **Merging** with the Compose Specification's merge rules: mappings merge key by key;
//!    sequences append (exact duplicates dropped); `command`, `entrypoint` and
//!    `healthcheck.test` are replaced; `volumes` are unique by target path.
//!
//! Every node keeps the file and line it came from, so a finding about a value that an
//! override file set points into the override file.

use crate::audit::finding::{FileId, Loc};
use crate::audit::source::interpolate::{interpolate, Vars};
use compact_str::CompactString;

use crate::audit::yaml::{Entry, Kind, Node, Scalar, Style};

/// A merged compose project.
#[derive(Debug)]
pub struct ComposeProject {
    /// Files in merge order; the first is the base file.
    pub files: Vec<FileId>,
    /// The merged top-level mapping.
    pub root: Node,
    /// Things the loader could not model (shown as notes, never silently dropped).
    pub notes: Vec<(Loc, String)>,
}

/// An interpolation error with the location of the scalar that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeError {
    pub loc: Loc,
    pub message: String,
}

impl ComposeProject {
    /// Builds a project from the root nodes of its files, in merge order.
    pub fn build(roots: Vec<Node>, files: Vec<FileId>, vars: &Vars) -> Result<Self, ComposeError> {
        let mut notes = Vec::new();
        let mut merged: Option<Node> = None;
        for mut root in roots {
            interpolate_node(&mut root, vars)?;
            normalize(&mut root);
            resolve_extends(&mut root, &mut notes);
            merged = Some(match merged {
                None => root,
                Some(base) => merge(base, root, &mut Vec::new()),
            });
        }
        let root = merged.unwrap_or(Node {
            loc: Loc::default(),
            kind: Kind::Map(Vec::new()),
        });
        Ok(ComposeProject { files, root, notes })
    }

    /// Services in file order.
    pub fn services(&self) -> impl Iterator<Item = Service<'_>> {
        self.root
            .get("services")
            .into_iter()
            .flat_map(|s| s.str_entries())
            .filter(|(_, e)| e.value.as_map().is_some())
            .map(|(name, e)| Service {
                name,
                key: &e.key,
                node: &e.value,
            })
    }

    /// A top-level network definition by name.
    pub fn network(&self, name: &str) -> Option<&Entry> {
        self.root.get("networks")?.entry(name)
    }

    /// True when the named network is declared `internal: true` (no route outside the host).
    pub fn network_is_internal(&self, name: &str) -> bool {
        self.network(name)
            .and_then(|e| e.value.get("internal"))
            .and_then(Node::as_bool)
            .unwrap_or(false)
    }
}

/// Is `text` (a file name) one of the names Compose picks up, or an override of one?
pub fn is_compose_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(stem) = lower
        .strip_suffix(".yaml")
        .or_else(|| lower.strip_suffix(".yml"))
    else {
        return false;
    };
    stem.starts_with("compose") || stem.starts_with("docker-compose") || stem.ends_with(".compose")
}

/// The override file names docker compose merges implicitly over a base file.
pub fn override_names_for(base: &str) -> Option<[&'static str; 2]> {
    match base {
        "compose.yaml" | "compose.yml" => Some(["compose.override.yaml", "compose.override.yml"]),
        "docker-compose.yaml" | "docker-compose.yml" => Some([
            "docker-compose.override.yaml",
            "docker-compose.override.yml",
        ]),
        _ => None,
    }
}

/// Is this an implicit override file (merged into its base, never audited alone when the base
/// is present)?
pub fn is_override_name(name: &str) -> bool {
    matches!(
        name,
        "compose.override.yaml"
            | "compose.override.yml"
            | "docker-compose.override.yaml"
            | "docker-compose.override.yml"
    )
}

/// Content sniffing: a top-level mapping with a `services` mapping.
pub fn looks_like_compose(root: &Node) -> bool {
    root.get("services").is_some_and(|s| s.as_map().is_some()) && root.get("apiVersion").is_none()
}

// ---------------------------------------------------------------------------------------------
// Pipeline steps

fn interpolate_node(node: &mut Node, vars: &Vars) -> Result<(), ComposeError> {
    match &mut node.kind {
        Kind::Scalar(s) => {
            if s.text.contains('$') {
                let out = interpolate(&s.text, vars).map_err(|e| ComposeError {
                    loc: node.loc,
                    message: e.to_string(),
                })?;
                if out.changed {
                    let raw = std::mem::replace(&mut s.text, out.value.into());
                    s.raw = Some(Box::new(raw));
                }
            }
        }
        Kind::Seq(items) => {
            for item in items {
                interpolate_node(item, vars)?;
            }
        }
        Kind::Map(entries) => {
            for e in entries {
                interpolate_node(&mut e.value, vars)?;
            }
        }
    }
    Ok(())
}

/// Fields whose list form (`KEY=VALUE`) is normalised into a mapping.
const KEYED_LISTS: &[&str] = &["environment", "labels", "sysctls", "annotations"];

fn normalize(root: &mut Node) {
    let Kind::Map(entries) = &mut root.kind else {
        return;
    };
    for top in entries.iter_mut() {
        if top.key.as_str() != Some("services") {
            continue;
        }
        let Kind::Map(services) = &mut top.value.kind else {
            continue;
        };
        for svc in services.iter_mut() {
            let Kind::Map(fields) = &mut svc.value.kind else {
                continue;
            };
            for f in fields.iter_mut() {
                let name = f.key.as_str().unwrap_or("");
                if KEYED_LISTS.contains(&name) {
                    list_to_map(&mut f.value);
                } else if name == "build" {
                    if let Some(args) = map_value_mut(&mut f.value, "args") {
                        list_to_map(args);
                    }
                }
            }
        }
    }
}

fn map_value_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.kind {
        Kind::Map(entries) => entries
            .iter_mut()
            .find(|e| e.key.as_str() == Some(key))
            .map(|e| &mut e.value),
        _ => None,
    }
}

/// `["A=1", "B"]` → `{A: "1", B: null}`, with locations inside the item.
fn list_to_map(node: &mut Node) {
    let Kind::Seq(items) = &node.kind else {
        return;
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Some(s) = item.as_scalar() else { continue };
        let quoted = matches!(s.style, Style::SingleQuoted | Style::DoubleQuoted);
        let text = s.text.as_str();
        let raw = s.raw.as_deref().map(CompactString::as_str);
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (text, None),
        };
        let key_chars = key.chars().count() as u32;
        let base_col = item.loc.col + u32::from(quoted);
        let key_node = Node {
            loc: Loc {
                len: key_chars,
                col: base_col,
                ..item.loc
            },
            kind: Kind::Scalar(Scalar {
                text: key.into(),
                style: Style::Plain,
                raw: None,
            }),
        };
        let value_node = match value {
            Some(v) => {
                // The raw text of the value part, so `A=${X}` still reads as a reference.
                let raw_v = raw.and_then(|r| r.split_once('=').map(|(_, rv)| rv.to_string()));
                // Columns come from the text as written before interpolation (`raw`), since
                // `${PREFIX}KEY=v` puts the value further right than the interpolated text
                // says. Decoded text is never longer than the source, so the column is at or
                // before the real one; and when the source may differ from the decoded text
                // (interpolation, quoting escapes) the length is left unknown (0), which
                // makes a secret's mask run to the end of the line instead of leaving a tail.
                let written = raw.unwrap_or(text);
                let written_key = written
                    .split_once('=')
                    .map_or(key_chars, |(k, _)| k.chars().count() as u32);
                let exact = item.loc.len != 0 && raw.is_none() && !quoted;
                let vloc = Loc {
                    col: base_col + written_key + 1,
                    len: if exact { v.chars().count() as u32 } else { 0 },
                    ..item.loc
                };
                Node {
                    loc: vloc,
                    kind: Kind::Scalar(Scalar {
                        text: v.into(),
                        // A `KEY=` item is an empty string, not null.
                        style: Style::DoubleQuoted,
                        raw: raw_v.map(|r| Box::new(CompactString::from(r))),
                    }),
                }
            }
            None => Node::scalar(item.loc, ""),
        };
        entries.push(Entry {
            key: key_node,
            value: value_node,
        });
    }
    node.kind = Kind::Map(entries);
}

fn resolve_extends(root: &mut Node, notes: &mut Vec<(Loc, String)>) {
    let Some(services) = map_value_mut(root, "services") else {
        return;
    };
    let Kind::Map(entries) = &services.kind else {
        return;
    };
    // Most files use no `extends`: leave them untouched rather than copying every service.
    if !entries.iter().any(|e| e.value.get("extends").is_some()) {
        return;
    }
    // Resolve against a snapshot so every service sees its base as written; each service is
    // resolved once (memoised), so long `extends` chains cost linear work, not quadratic.
    let snapshot: Vec<Entry> = entries.clone();
    let mut memo: Vec<Option<Node>> = vec![None; snapshot.len()];
    let mut resolved: Vec<Entry> = Vec::with_capacity(snapshot.len());
    for i in 0..snapshot.len() {
        let value = extend_one(&snapshot, i, &mut memo, &mut Vec::new(), notes);
        resolved.push(Entry {
            key: snapshot[i].key.clone(),
            value,
        });
    }
    services.kind = Kind::Map(resolved);
}

/// Longest `extends` chain followed; deeper chains are reported and cut, which also bounds
/// the recursion.
const MAX_EXTENDS_DEPTH: usize = 64;

fn extend_one(
    all: &[Entry],
    idx: usize,
    memo: &mut Vec<Option<Node>>,
    chain: &mut Vec<usize>,
    notes: &mut Vec<(Loc, String)>,
) -> Node {
    if let Some(done) = &memo[idx] {
        return done.clone();
    }
    let svc = &all[idx];
    let name = svc.key.as_str().unwrap_or("").to_string();
    let Some(ext) = svc.value.entry("extends") else {
        return svc.value.clone();
    };
    let (base_name, file) = match &ext.value.kind {
        Kind::Scalar(_) => (ext.value.as_str().map(str::to_string), None),
        Kind::Map(_) => (
            ext.value
                .get("service")
                .and_then(Node::as_str)
                .map(str::to_string),
            ext.value
                .get("file")
                .and_then(Node::as_str)
                .map(str::to_string),
        ),
        Kind::Seq(_) => (None, None),
    };
    let mut own = svc.value.clone();
    if let Kind::Map(fields) = &mut own.kind {
        fields.retain(|f| f.key.as_str() != Some("extends"));
    }
    let result = 'resolve: {
        if let Some(file) = file {
            notes.push((
                ext.key.loc,
                format!("service `{name}` extends a service in `{file}`, which is not followed; only its own keys are audited"),
            ));
            break 'resolve own;
        }
        let Some(base_name) = base_name else {
            break 'resolve own;
        };
        let Some(base_idx) = all
            .iter()
            .position(|e| e.key.as_str() == Some(base_name.as_str()))
        else {
            notes.push((
                ext.key.loc,
                format!(
                    "service `{name}` extends `{base_name}`, which is not defined in this file"
                ),
            ));
            break 'resolve own;
        };
        if chain.contains(&base_idx) || base_idx == idx {
            notes.push((
                ext.key.loc,
                format!(
                    "service `{name}` extends `{base_name}` in a cycle; the extension is ignored"
                ),
            ));
            break 'resolve own;
        }
        if chain.len() >= MAX_EXTENDS_DEPTH {
            notes.push((
                ext.key.loc,
                format!("`extends` chain longer than {MAX_EXTENDS_DEPTH} services; `{name}` keeps only its own keys"),
            ));
            break 'resolve own;
        }
        chain.push(idx);
        let base_value = extend_one(all, base_idx, memo, chain, notes);
        chain.pop();
        merge(base_value, own, &mut vec!["services".into(), name])
    };
    memo[idx] = Some(result.clone());
    result
}

/// Sequences that an override replaces instead of appending to.
fn replaces_sequence(path: &[String]) -> bool {
    match path {
        [s, _, field] if s == "services" => matches!(field.as_str(), "command" | "entrypoint"),
        [s, _, hc, t] if s == "services" => hc == "healthcheck" && t == "test",
        _ => false,
    }
}

fn is_service_volumes(path: &[String]) -> bool {
    matches!(path, [s, _, f] if s == "services" && f == "volumes")
}

/// Merges `over` into `base` with the Compose Specification's merge rules.
fn merge(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    match (base.kind, over.kind) {
        (Kind::Map(mut b), Kind::Map(o)) => {
            for oe in o {
                let key = oe.key.as_str().map(str::to_string);
                let pos = b.iter().position(|be| match (&key, be.key.as_str()) {
                    (Some(k), Some(bk)) => k == bk,
                    _ => false,
                });
                match (pos, key) {
                    (Some(i), Some(k)) => {
                        let be = b.remove(i);
                        path.push(k);
                        let value = merge(be.value, oe.value, path);
                        path.pop();
                        b.insert(i, Entry { key: be.key, value });
                    }
                    _ => b.push(oe),
                }
            }
            Node {
                loc: base.loc,
                kind: Kind::Map(b),
            }
        }
        (Kind::Seq(b), Kind::Seq(o)) if !replaces_sequence(path) => {
            let mut out = b;
            if is_service_volumes(path) {
                for item in o {
                    let target = mount_target(&item);
                    if let Some(t) = target {
                        out.retain(|x| mount_target(x).as_deref() != Some(t.as_str()));
                    }
                    out.push(item);
                }
            } else {
                for item in o {
                    let dup = item.as_scalar().is_some()
                        && out.iter().any(|x| {
                            x.as_scalar().map(|s| &s.text) == item.as_scalar().map(|s| &s.text)
                        });
                    if !dup {
                        out.push(item);
                    }
                }
            }
            Node {
                loc: base.loc,
                kind: Kind::Seq(out),
            }
        }
        (_, kind) => Node {
            loc: over.loc,
            kind,
        },
    }
}

fn mount_target(item: &Node) -> Option<String> {
    match &item.kind {
        Kind::Scalar(_) => parse_short_volume(item.as_str()?).map(|v| v.target.to_string()),
        Kind::Map(_) => item
            .get("target")
            .and_then(Node::as_str)
            .map(str::to_string),
        Kind::Seq(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Typed views

/// One service of a project.
#[derive(Clone, Copy, Debug)]
pub struct Service<'a> {
    pub name: &'a str,
    /// The service's key node: where "missing field" findings point.
    pub key: &'a Node,
    pub node: &'a Node,
}

/// One published or exposed port mapping of a service.
#[derive(Clone, Debug)]
pub struct Port<'a> {
    /// The item as written (short string or long mapping).
    pub node: &'a Node,
    /// The node to blame for the host binding: the item, or the long syntax `host_ip`.
    pub blame: &'a Node,
    pub host_ip: Option<&'a str>,
    /// Host port or range as written; `None` means an ephemeral host port.
    pub published: Option<&'a str>,
    /// Container port or range.
    pub target: &'a str,
    pub protocol: &'a str,
}

impl Port<'_> {
    /// Bound on every interface of the host (no host IP, `0.0.0.0` or `::`).
    pub fn all_interfaces(&self) -> bool {
        match self.host_ip {
            None => true,
            Some(ip) => matches!(
                ip,
                "" | "0.0.0.0" | "::" | "[::]" | "::0" | "0:0:0:0:0:0:0:0"
            ),
        }
    }

    /// Bound only to loopback.
    pub fn loopback(&self) -> bool {
        self.host_ip.is_some_and(is_loopback_ip)
    }

    /// All container ports of the mapping (a range expands; capped for absurd ranges).
    pub fn target_ports(&self) -> Vec<u32> {
        expand_range(self.target)
    }

    /// All host ports of the mapping; empty when ephemeral.
    pub fn published_ports(&self) -> Vec<u32> {
        self.published.map(expand_range).unwrap_or_default()
    }

    /// Human form, e.g. `0.0.0.0:80->8080/tcp`.
    pub fn describe(&self) -> String {
        let host = self.host_ip.unwrap_or("0.0.0.0");
        let published = self.published.unwrap_or("(ephemeral)");
        format!("{host}:{published}->{}/{}", self.target, self.protocol)
    }
}

/// Is `ip` in 127.0.0.0/8 or `::1`?
pub fn is_loopback_ip(ip: &str) -> bool {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    match ip.parse::<std::net::IpAddr>() {
        Ok(addr) => addr.is_loopback(),
        Err(_) => ip == "localhost",
    }
}

fn expand_range(s: &str) -> Vec<u32> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
        None => (s.trim().parse::<u32>(), s.trim().parse::<u32>()),
    };
    match (a, b) {
        (Ok(a), Ok(b)) if a <= b && b - a <= 65_535 => (a..=b).collect(),
        _ => Vec::new(),
    }
}

/// Parses the short port syntax `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`,
/// with IPv6 host IPs in brackets (`[::1]:80:80`).
pub fn parse_short_port(text: &str) -> Option<(Option<&str>, Option<&str>, &str, &str)> {
    let text = text.trim();
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, p)) => (s, p),
        None => (text, "tcp"),
    };
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after.split_once(']')?;
        (Some(ip), rest.strip_prefix(':')?)
    } else {
        let colons = spec.matches(':').count();
        match colons {
            0 | 1 => (None, spec),
            // `IP:HOST:CONTAINER`, or an unbracketed IPv6 address: everything before the
            // last two fields is the host IP.
            _ => {
                let mut cut = spec.len();
                for _ in 0..2 {
                    cut = spec[..cut].rfind(':')?;
                }
                (Some(&spec[..cut]), &spec[cut + 1..])
            }
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => ((!p.is_empty()).then_some(p), t),
        None => (None, rest),
    };
    if target.is_empty() {
        return None;
    }
    Some((host_ip, published, target, protocol))
}

/// How a volume is mounted into a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
    Other,
}

/// One entry of a service's `volumes`.
#[derive(Clone, Debug)]
pub struct Mount<'a> {
    pub node: &'a Node,
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

/// A short-syntax volume `SOURCE:TARGET[:MODE]` split into its parts.
pub struct ShortVolume<'t> {
    pub source: Option<&'t str>,
    pub target: &'t str,
    pub mode: Option<&'t str>,
}

/// Parses `SOURCE:TARGET[:MODE]` (or a bare `TARGET`, an anonymous volume).
pub fn parse_short_volume(text: &str) -> Option<ShortVolume<'_>> {
    let mut parts = text.splitn(3, ':');
    let first = parts.next()?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(ShortVolume {
            source: None,
            target: first,
            mode: None,
        }),
        (Some(target), mode) => Some(ShortVolume {
            source: Some(first),
            target,
            mode,
        }),
    }
}

fn is_path_source(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~') || s.starts_with('$')
}

impl<'a> Service<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key)
    }

    pub fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.node.entry(key)
    }

    pub fn image(&self) -> Option<&'a Node> {
        self.get("image")
    }

    /// `service webapp`, the resource name used in findings and exceptions.
    pub fn resource(&self) -> String {
        format!("service {}", self.name)
    }

    pub fn ports(&self) -> Vec<Port<'a>> {
        let Some(items) = self.get("ports").and_then(Node::as_seq) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match &item.kind {
                Kind::Scalar(_) => {
                    let Some(text) = item.as_str() else { continue };
                    if let Some((host_ip, published, target, protocol)) = parse_short_port(text) {
                        out.push(Port {
                            node: item,
                            blame: item,
                            host_ip,
                            published,
                            target,
                            protocol,
                        });
                    }
                }
                Kind::Map(_) => {
                    let host = item.get("host_ip");
                    let target = item.get("target").and_then(Node::as_str).unwrap_or("");
                    if target.is_empty() {
                        continue;
                    }
                    out.push(Port {
                        node: item,
                        blame: host.unwrap_or(item),
                        host_ip: host.and_then(Node::as_str),
                        published: item.get("published").and_then(Node::as_str),
                        target,
                        protocol: item.get("protocol").and_then(Node::as_str).unwrap_or("tcp"),
                    });
                }
                Kind::Seq(_) => {}
            }
        }
        out
    }

    pub fn volumes(&self) -> Vec<Mount<'a>> {
        let Some(items) = self.get("volumes").and_then(Node::as_seq) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match &item.kind {
                Kind::Scalar(_) => {
                    let Some(v) = item.as_str().and_then(parse_short_volume) else {
                        continue;
                    };
                    let kind = match v.source {
                        Some(s) if is_path_source(s) => MountKind::Bind,
                        _ => MountKind::Volume,
                    };
                    let read_only = v
                        .mode
                        .is_some_and(|m| m.split(',').any(|o| o == "ro" || o == "readonly"));
                    out.push(Mount {
                        node: item,
                        kind,
                        source: v.source.map(str::to_string),
                        target: v.target.to_string(),
                        read_only,
                    });
                }
                Kind::Map(_) => {
                    let kind = match item.get("type").and_then(Node::as_str) {
                        Some("bind") => MountKind::Bind,
                        Some("volume") | None => MountKind::Volume,
                        Some("tmpfs") => MountKind::Tmpfs,
                        Some(_) => MountKind::Other,
                    };
                    out.push(Mount {
                        node: item,
                        kind,
                        source: item
                            .get("source")
                            .and_then(Node::as_str)
                            .map(str::to_string),
                        target: item
                            .get("target")
                            .and_then(Node::as_str)
                            .unwrap_or("")
                            .to_string(),
                        read_only: item
                            .get("read_only")
                            .and_then(Node::as_bool)
                            .unwrap_or(false),
                    });
                }
                Kind::Seq(_) => {}
            }
        }
        out
    }

    /// Networks the service joins explicitly, `None` when it has no `networks` key.
    pub fn networks(&self) -> Option<Vec<(&'a str, &'a Node)>> {
        let n = self.get("networks")?;
        Some(match &n.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| Some((i.as_str()?, i)))
                .collect(),
            Kind::Map(_) => n.str_entries().map(|(k, e)| (k, &e.key)).collect(),
            Kind::Scalar(_) => Vec::new(),
        })
    }

    /// The networks the service is attached to at runtime: its own list, or `default`
    /// when it has none; empty when `network_mode` takes it off the project's networks.
    pub fn effective_networks(&self) -> Vec<&'a str> {
        if self.get("network_mode").and_then(Node::as_str).is_some() {
            return Vec::new();
        }
        match self.networks() {
            Some(list) => list.into_iter().map(|(n, _)| n).collect(),
            None => vec!["default"],
        }
    }

    /// `environment` as key/value entries (list forms were normalised into a mapping).
    pub fn environment(&self) -> &'a [Entry] {
        self.get("environment")
            .and_then(Node::as_map)
            .unwrap_or(&[])
    }

    /// Items of a string-list field (`cap_add`, `security_opt`, ...).
    pub fn str_list(&self, key: &str) -> Vec<(&'a str, &'a Node)> {
        match self.get(key) {
            Some(n) => match &n.kind {
                Kind::Seq(items) => items
                    .iter()
                    .filter_map(|i| Some((i.as_str()?, i)))
                    .collect(),
                Kind::Scalar(_) => n.as_str().map(|s| vec![(s, n)]).unwrap_or_default(),
                Kind::Map(_) => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// Publishes at least one port on all host interfaces.
    pub fn publishes_on_all_interfaces(&self) -> bool {
        self.ports().iter().any(Port::all_interfaces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::yaml::{load, Limits};

    fn project(files: &[&str]) -> ComposeProject {
        let roots = files
            .iter()
            .enumerate()
            .map(|(i, t)| load(t, i as u32, Limits::default()).unwrap().remove(0).root)
            .collect();
        let vars = Vars::new(vec![("TAG".into(), "1.2".into())], vec![]);
        ComposeProject::build(roots, (0..files.len() as u32).collect(), &vars).unwrap()
    }

    #[test]
    fn short_ports() {
        let p = |s| parse_short_port(s).unwrap();
        assert_eq!(p("80:8080"), (None, Some("80"), "8080", "tcp"));
        assert_eq!(p("127.0.0.1:80:80").0, Some("127.0.0.1"));
        assert_eq!(p("[::1]:80:80").0, Some("::1"));
        assert_eq!(p("::1:80:80").0, Some("::1"));
        assert_eq!(p("3000"), (None, None, "3000", "tcp"));
        assert_eq!(p("8000-8010:8000-8010/udp").3, "udp");
        assert_eq!(p("127.0.0.1::5000").1, None);
    }

    #[test]
    fn override_merges_and_keeps_locations() {
        let base = "services:\n  web:\n    image: web:${TAG}\n    ports: [\"80:80\"]\n    environment:\n      - A=1\n";
        let over = "services:\n  web:\n    ports: [\"127.0.0.1:81:81\"]\n    environment:\n      A: \"2\"\n    user: \"1000\"\n";
        let p = project(&[base, over]);
        let web = p.services().next().unwrap();
        assert_eq!(web.image().unwrap().as_str(), Some("web:1.2"));
        assert_eq!(web.image().unwrap().raw_text(), Some("web:${TAG}"));
        assert_eq!(web.ports().len(), 2);
        let env = web.environment();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].value.as_str(), Some("2"));
        assert_eq!(env[0].value.loc.file, 1);
        assert_eq!(web.get("user").unwrap().loc.file, 1);
    }

    #[test]
    fn extends_within_file() {
        let p = project(&["services:\n  base:\n    image: a:1\n    read_only: true\n  app:\n    extends: base\n    image: b:2\n"]);
        let app = p.services().nth(1).unwrap();
        assert_eq!(app.image().unwrap().as_str(), Some("b:2"));
        assert_eq!(app.get("read_only").unwrap().loc.line, 4);
        assert!(app.get("extends").is_none());
    }

    #[test]
    fn list_environment_locations() {
        let p = project(&["services:\n  a:\n    environment:\n      - \"DB_PASSWORD=x1\"\n"]);
        let env = p.services().next().unwrap().environment();
        assert_eq!(env[0].key.loc.col, 10);
        assert_eq!(env[0].value.loc.col, 22);
        // Quoted: the source may hold escapes, so the length is left open (mask to EOL).
        assert_eq!(env[0].value.loc.len, 0);
        let p = project(&["services:\n  a:\n    environment:\n      - DB_PASSWORD=x1 # c\n      - ${P:-}API_TOKEN=abc\n"]);
        let env = p.services().next().unwrap().environment();
        assert_eq!((env[0].value.loc.col, env[0].value.loc.len), (21, 2));
        // Interpolated key prefix: the value column is where it is written, length open.
        assert_eq!((env[1].value.loc.col, env[1].value.loc.len), (25, 0));
    }
}
