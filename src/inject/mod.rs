//! `elastics-sec inject`: add elastics-sec to Kubernetes manifests and compose files.
//!
//! Like `linkerd inject`, it reads manifests (files or stdin) and writes them back with the
//! elastics-sec containers, the memory-backed secrets volume, the mounts and the security
//! settings added. Design choices, and why:
//!
//! - **Text-level edits** ([`text`]): the input is loaded with the audit's span-preserving
//!   loader only to find positions; new lines are inserted at those positions and nothing
//!   else is rewritten, so comments, key order, quoting and blank lines survive. New keys go
//!   at the end of their mapping, new list items at the end of their list (elastics-sec's
//!   own init containers at the start, so the app's init containers already see secrets).
//! - **Block style only**: a non-empty collection inject must edit that is written in flow
//!   style (`spec: {containers: [...]}`), or reached through a YAML alias or merge key, is refused
//!   with `file:line:col` instead of being rewritten, because the rewrite would either lose
//!   the author's formatting or change other objects sharing the anchor. JSON manifests
//!   (flow style throughout) are refused the same way: convert them with `yq -P`. Empty
//!   flow collections (`volumes: []`, `annotations: {}`) are replaced by a block, and a
//!   compose `depends_on: [a, b]` is rewritten to the long syntax (it has to be anyway).
//! - **Idempotent by construction**: every step is "ensure": a volume, container, mount,
//!   annotation, service or `depends_on` entry is added only when its name (or mount path)
//!   is not there yet, so injecting its own output changes nothing, and a workload injected
//!   by hand with the same names is left alone. The annotation `elastics-sec.io/injected`
//!   marks injected pod templates; `elastics-sec.io/inject: disabled` opts one out.
//! - **Verified**: every result is loaded again before it is written: it must parse, keep
//!   the input's documents (kind and name, in order) and be stable under a second pass.
//!   This catches shapes the edits do not model (aliases, odd indentation) as a refusal.
//! - **Config**: `--config FILE` is validated like `check-config` does. For Kubernetes it is
//!   embedded in a ConfigMap (`--config-map`, default `elastics-sec-config`) appended to the
//!   output once per namespace (unless the input already has it); without `--config` the
//!   ConfigMap is expected to exist in the cluster. Compose bind-mounts the file read-only,
//!   so compose requires `--config`. The secrets volume is mounted at the config's
//!   `output.dir` in the elastics-sec containers and at [`SECRETS_DIR`] in the app.
//! - **`--secret NAME[=FILE]`** names the secrets the workload uses: with a config each name
//!   must be a `[[secret]]` of it (and write FILE, when given), which catches typos before
//!   deployment; the names are recorded in the `elastics-sec.io/secrets` annotation.
//! - The injected parts pass `elastics-sec audit` at the default policy: non-root 65532,
//!   no privilege escalation, read-only root filesystem, all capabilities dropped,
//!   `RuntimeDefault` seccomp, a digest-pinned image, read-only mounts in the app.

pub mod compose;
pub mod kubernetes;
pub mod text;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::audit::source::{compose::looks_like_compose, is_kubernetes};
use crate::audit::yaml::{self, Document, Limits};
use crate::config::{Config, ConfigError};

/// The image written by default. The digest is a documented placeholder (the same value in
/// every example): replace it with the digest of the release you deploy.
pub const DEFAULT_IMAGE: &str = "ghcr.io/elastics-sec/elastics-sec:0.1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// Where the app reads its secrets.
pub const SECRETS_DIR: &str = "/run/secrets/elastics-sec";
/// Where the injected containers read the daemon config.
pub const CONFIG_DIR: &str = "/etc/elastics-sec";
pub const CONFIG_FILE: &str = "/etc/elastics-sec/elastics-sec.toml";
/// The file name of the config inside the ConfigMap.
pub const CONFIG_KEY: &str = "elastics-sec.toml";
pub const SECRETS_VOLUME: &str = "elastics-sec-secrets";
pub const CONFIG_VOLUME: &str = "elastics-sec-config";
pub const DEFAULT_CONFIG_MAP: &str = "elastics-sec-config";
pub const FETCH_NAME: &str = "elastics-sec-fetch";
pub const AGENT_NAME: &str = "elastics-sec-agent";
pub const INIT_SERVICE: &str = "elastics-sec-init";
pub const ANNOTATION_INJECTED: &str = "elastics-sec.io/injected";
pub const ANNOTATION_INJECT: &str = "elastics-sec.io/inject";
pub const ANNOTATION_SECRETS: &str = "elastics-sec.io/secrets";
/// The non-root user and group of the injected containers.
pub const UID: u32 = 65532;

/// Which elastics-sec containers are added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `fetch` once before the app starts.
    Init,
    /// `agent` alongside the app (a native sidecar in Kubernetes), keeping files fresh.
    Sidecar,
    /// Both: the files exist when the app starts and stay fresh afterwards.
    Both,
}

impl Mode {
    pub fn init(self) -> bool {
        matches!(self, Mode::Init | Mode::Both)
    }

    pub fn sidecar(self) -> bool {
        matches!(self, Mode::Sidecar | Mode::Both)
    }
}

/// A validated daemon config given with `--config`.
#[derive(Clone, Debug)]
pub struct ConfigInput {
    pub path: PathBuf,
    pub text: String,
    /// `output.dir`: where the elastics-sec containers mount the secrets volume.
    pub output_dir: String,
    /// `output.gid`: the group the files are given.
    pub gid: Option<u32>,
}

/// A `--secret NAME[=FILE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSel {
    pub name: String,
    pub file: Option<String>,
}

impl SecretSel {
    pub fn parse(s: &str) -> Result<SecretSel, String> {
        let (name, file) = match s.split_once('=') {
            Some((n, f)) => (n, Some(f.to_string())),
            None => (s, None),
        };
        if name.is_empty() || name.contains(',') || file.as_deref() == Some("") {
            return Err(format!(
                "invalid --secret `{s}` (expected NAME or NAME=FILE)"
            ));
        }
        Ok(SecretSel {
            name: name.to_string(),
            file,
        })
    }
}

/// What to inject.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub image: String,
    pub config_map: String,
    pub config: Option<ConfigInput>,
    pub secrets: Vec<SecretSel>,
    /// Compose services to inject; empty: every service with an `image` or `build`.
    pub services: Vec<String>,
}

impl Options {
    /// Options without a config (Kubernetes then expects the ConfigMap in the cluster).
    pub fn new(mode: Mode) -> Options {
        Options {
            mode,
            image: DEFAULT_IMAGE.to_string(),
            config_map: DEFAULT_CONFIG_MAP.to_string(),
            config: None,
            secrets: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Loads and validates `--config` and checks every `--secret` against it.
    pub fn with_config(mut self, path: &Path) -> Result<Options, InjectError> {
        let cfg = Config::load(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| InjectError::Input {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.config = Some(ConfigInput {
            path: path.to_path_buf(),
            text,
            output_dir: cfg.output.dir.display().to_string(),
            gid: cfg.output.gid,
        });
        for sel in &self.secrets {
            let Some(sc) = cfg.secrets.iter().find(|s| s.name == sel.name) else {
                let known: Vec<&str> = cfg.secrets.iter().map(|s| s.name.as_str()).collect();
                return Err(InjectError::Input {
                    file: path.display().to_string(),
                    message: format!(
                        "--secret {}: no [[secret]] of that name (the config has: {})",
                        sel.name,
                        known.join(", ")
                    ),
                });
            };
            if let Some(want) = &sel.file {
                if sc.file.as_deref() != Some(want.as_str()) {
                    return Err(InjectError::Input {
                        file: path.display().to_string(),
                        message: format!(
                            "--secret {}={want}: the config writes it to {} (line {})",
                            sel.name,
                            sc.file.as_deref().unwrap_or("no file"),
                            sc.line
                        ),
                    });
                }
            }
        }
        Ok(self)
    }

    /// The directory the elastics-sec containers write to.
    pub fn output_dir(&self) -> &str {
        self.config
            .as_ref()
            .map_or(SECRETS_DIR, |c| c.output_dir.as_str())
    }
}

/// Why an input could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// A problem at a position of an input file.
    #[error("{file}:{line}:{col}: {message}")]
    At {
        file: String,
        line: u32,
        col: u32,
        message: String,
    },
    /// A problem with a whole input (or the config).
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What an input turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Kubernetes,
    Compose,
    /// Nothing but comments: passed through.
    Empty,
}

/// The result of injecting one input.
#[derive(Debug)]
pub struct Injected {
    pub kind: InputKind,
    pub text: String,
    /// Things the user should know (left as is, not editable); never fatal.
    pub notes: Vec<String>,
}

/// State across the inputs of one run (so a ConfigMap is emitted once per namespace).
#[derive(Debug, Default)]
pub struct Session {
    pub config_maps: HashSet<Option<String>>,
}

/// Injects one input. `name` is used in messages; `dir` is the directory the input lives in
/// (compose bind-mount sources are written relative to it; `None` for stdin: the current
/// directory).
pub fn inject(
    name: &str,
    src: &str,
    dir: Option<&Path>,
    opts: &Options,
    session: &mut Session,
) -> Result<Injected, InjectError> {
    // The loader strips a byte-order mark; positions are then relative to the rest.
    let (bom, body) = match src.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", src),
    };
    let docs = yaml::load(body, 0, Limits::default()).map_err(|e| InjectError::At {
        file: name.to_string(),
        line: e.line,
        col: e.col,
        message: format!("cannot parse: {}", e.message),
    })?;
    if docs.is_empty() {
        return Ok(Injected {
            kind: InputKind::Empty,
            text: src.to_string(),
            notes: Vec::new(),
        });
    }
    let t = text::Text::new(body);
    for d in &docs {
        if !t.is_block(&d.root) {
            return Err(InjectError::At {
                file: name.to_string(),
                line: d.root.loc.line,
                col: d.root.loc.col,
                message: "a JSON or flow-style document cannot be edited in place; convert it \
                          to block-style YAML first (e.g. `yq -P`)"
                    .to_string(),
            });
        }
    }
    let (kind, mut out) = match classify(&docs) {
        Some(InputKind::Kubernetes) => (
            InputKind::Kubernetes,
            kubernetes::inject(name, &t, &docs, opts, session)?,
        ),
        Some(_) => (
            InputKind::Compose,
            compose::inject(name, &t, &docs[0], dir, opts)?,
        ),
        None => {
            return Err(InjectError::Input {
                file: name.to_string(),
                message: "neither Kubernetes manifests (apiVersion/kind) nor a compose file \
                          (a top-level `services` mapping)"
                    .to_string(),
            })
        }
    };
    if out.text != body {
        verify(name, &docs, &out.text, dir, opts, session)?;
    }
    out.text.insert_str(0, bom);
    Ok(Injected {
        kind,
        text: out.text,
        notes: out.notes,
    })
}

/// A safety net under the text edits: the result must parse, keep every document of the
/// input in order (same kind and name), and be stable (injecting it again changes
/// nothing). An input shape the edits do not handle then fails with a located error
/// instead of producing a corrupted or incomplete manifest.
fn verify(
    name: &str,
    docs: &[Document],
    after: &str,
    dir: Option<&Path>,
    opts: &Options,
    session: &Session,
) -> Result<(), InjectError> {
    let unsafe_shape = |line: u32, why: String| InjectError::At {
        file: name.to_string(),
        line,
        col: 1,
        message: format!(
            "this input cannot be injected safely ({why}); nothing was written, please add \
             the elastics-sec parts by hand"
        ),
    };
    let new = yaml::load(after, 0, Limits::default()).map_err(|e| {
        unsafe_shape(
            e.line,
            format!("the edited text does not parse: {}", e.message),
        )
    })?;
    let ident = |d: &Document| {
        (
            d.root
                .get("kind")
                .and_then(yaml::Node::as_str)
                .map(str::to_string),
            d.root
                .path(&["metadata", "name"])
                .and_then(yaml::Node::as_str)
                .map(str::to_string),
        )
    };
    for (i, d) in docs.iter().enumerate() {
        if new.get(i).map(ident) != Some(ident(d)) {
            return Err(unsafe_shape(
                d.root.loc.line,
                "a document changed identity after the edit".to_string(),
            ));
        }
    }
    // The second pass must find everything in place; with a copy of the session, so that
    // ConfigMaps emitted for an earlier input of the run are not expected here again.
    let t = text::Text::new(after);
    let again = match classify(&new) {
        Some(InputKind::Kubernetes) => {
            kubernetes::inject(
                name,
                &t,
                &new,
                opts,
                &mut Session {
                    config_maps: session.config_maps.clone(),
                },
            )?
            .text
        }
        Some(_) => compose::inject(name, &t, &new[0], dir, opts)?.text,
        None => String::new(),
    };
    if again != after {
        let line = first_difference_line(after, &again);
        return Err(unsafe_shape(
            line,
            format!("the result is not stable: a second pass changes line {line}"),
        ));
    }
    Ok(())
}

fn first_difference_line(a: &str, b: &str) -> u32 {
    let n = a.lines().zip(b.lines()).take_while(|(x, y)| x == y).count();
    n as u32 + 1
}

/// The edited text of one input and its notes.
pub struct Output {
    pub text: String,
    pub notes: Vec<String>,
}

fn classify(docs: &[Document]) -> Option<InputKind> {
    if docs.iter().any(|d| is_kubernetes(&d.root)) {
        Some(InputKind::Kubernetes)
    } else if docs.len() == 1 && looks_like_compose(&docs[0].root) {
        Some(InputKind::Compose)
    } else {
        None
    }
}

/// A located error.
pub(crate) fn at(name: &str, node: &yaml::Node, message: impl Into<String>) -> InjectError {
    InjectError::At {
        file: name.to_string(),
        line: node.loc.line,
        col: node.loc.col,
        message: message.into(),
    }
}

/// `path` relative to `base` when both resolve (for bind-mount sources), else as given.
pub fn relative_to(path: &Path, base: &Path) -> String {
    let (Ok(p), Ok(b)) = (path.canonicalize(), base.canonicalize()) else {
        return path.display().to_string();
    };
    let pc: Vec<_> = p.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c);
    }
    let s = rel.display().to_string();
    if s.starts_with("..") {
        s
    } else {
        format!("./{s}")
    }
}
