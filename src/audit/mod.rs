//! The audit engine: discover → load → classify → build views → run rules → filter → report.
//!
//! - **Discover**: files and directories (recursive, honouring `.gitignore`, `--exclude`
//!   globs), `-` for stdin. Directories contribute `*.yaml`, `*.yml`, `*.json` and
//!   Dockerfiles by name (`Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, `Containerfile`...,
//!   see [`source::dockerfile::is_dockerfile_name`]); a file named on the command line is a
//!   Dockerfile by the same names, anything else is YAML/JSON (stdin included).
//! - **Load**: in parallel (rayon); each file under a size cap and the UTF-8/NUL checks, then
//!   through the span-preserving YAML loader, or the Dockerfile parser for Dockerfiles. A
//!   file that cannot be read or parsed becomes an [`InputError`] (exit 2, with the line of
//!   a parse error) and the run goes on with the others.
//! - **Classify**: Dockerfiles by name; compose by name (`compose*.y{a,}ml`,
//!   `docker-compose*.y{a,}ml`, `*.compose.y{a,}ml`) or content (top-level `services:`);
//!   Kubernetes by `apiVersion` + `kind`; anything else is skipped and counted.
//! - **Projects**: a compose base file merges its `compose.override.y{a,}ml` sibling, as
//!   `docker compose` does; `--compose-file A --compose-file B` names one project explicitly.
//! - **Rules** run per compose project and per Dockerfile in parallel, then suppressions and policy exceptions filter
//!   the findings, and the engine adds its own findings about suppressions and exceptions.

pub mod detect;
pub mod finding;
pub mod policy;
pub mod report;
pub mod rules;
pub mod source;
pub mod sources;
pub mod suppress;
pub mod yaml;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

use crate::audit::finding::{FileId, Finding, InputError, Loc};
use crate::audit::policy::{Policy, PolicyError};
use crate::audit::report::Summary;
use crate::audit::rules::{
    AciCx, ComposeCx, DockerfileCx, Emitter, KubeCx, Params, RuleMeta, Target,
};
use crate::audit::source::compose::{self, ComposeProject};
use crate::audit::source::dockerfile::{self, Dockerfile};
use crate::audit::source::interpolate::{parse_dotenv, Vars};
use crate::audit::source::DocKind;
use crate::audit::sources::SourceMap;
use crate::audit::suppress::Suppression;
use crate::audit::yaml::{Document, Limits};

/// Default per-file size cap (16 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Files, directories, or `-` for stdin.
    pub paths: Vec<String>,
    /// Globs of paths to leave out.
    pub excludes: Vec<String>,
    /// Compose files merged in order into one explicit project.
    pub compose_files: Vec<PathBuf>,
    /// Policy files or built-in names, later wins.
    pub policies: Vec<PathBuf>,
    /// When non-empty, only these rules run.
    pub select: Vec<String>,
    pub limits: Limits,
    pub max_file_size: u64,
    pub report_unused_suppressions: bool,
    /// Load and classify only; run no rules (to measure rule overhead).
    pub parse_only: bool,
    /// The environment Compose interpolation reads (normally the process environment).
    pub env: Vec<(String, String)>,
    /// Draw a progress bar on stderr while loading, when there are more than
    /// [`PROGRESS_MIN_FILES`] inputs. The caller sets it only when stderr is a terminal.
    pub progress: bool,
}

/// Below this many files a run is too short for a progress bar to help.
pub const PROGRESS_MIN_FILES: usize = 300;

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            paths: Vec::new(),
            excludes: Vec::new(),
            compose_files: Vec::new(),
            policies: Vec::new(),
            select: Vec::new(),
            limits: Limits::default(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            report_unused_suppressions: false,
            progress: false,
            parse_only: false,
            env: Vec::new(),
        }
    }
}

/// Errors that stop the run before any file is audited (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Usage(String),
}

/// Result of a run, ready for a reporter.
#[derive(Debug)]
pub struct AuditOutcome {
    pub sources: SourceMap,
    /// Sorted by file, line, column, rule.
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
    /// Things worth telling the user that are neither findings nor errors.
    pub notes: Vec<String>,
    pub summary: Summary,
    /// Rules enabled in this run.
    pub rules: Vec<&'static RuleMeta>,
}

struct Input {
    display: String,
    path: Option<PathBuf>,
    /// Parsed as a Dockerfile (chosen by file name at discovery), not as YAML.
    dockerfile: bool,
}

struct Loaded {
    text: Arc<str>,
    docs: Vec<Document>,
    error: Option<InputError>,
}

/// Runs an audit.
pub fn run(opts: &AuditOptions) -> Result<AuditOutcome, AuditError> {
    let mut sources = SourceMap::default();
    let mut policy = Policy::load(&opts.policies, &mut sources)?;
    if !opts.select.is_empty() {
        for id in &opts.select {
            if rules::find(id).is_none() {
                return Err(AuditError::Usage(format!(
                    "unknown rule id `{id}` in --select"
                )));
            }
        }
        for r in &mut policy.rules {
            if !opts.select.iter().any(|s| s == r.meta.id) {
                r.level = None;
            }
        }
    }
    let excludes = build_excludes(&opts.excludes)?;

    let mut errors = Vec::new();
    let mut inputs = discover(&opts.paths, &excludes, &mut errors);
    let explicit_start = inputs.len();
    for f in &opts.compose_files {
        inputs.push(Input {
            display: display_path(f),
            path: Some(f.clone()),
            dockerfile: false,
        });
    }
    let n_explicit = opts.compose_files.len();
    dedupe(&mut inputs, explicit_start);
    let explicit_start = inputs.len() - n_explicit;

    let first_id = sources.len() as FileId;
    let bar = (opts.progress && inputs.len() > PROGRESS_MIN_FILES).then(|| {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(inputs.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} auditing {pos}/{len} files [{bar:30}] {elapsed}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let loaded: Vec<Loaded> = inputs
        .par_iter()
        .enumerate()
        .map(|(i, input)| {
            let l = load_input(input, first_id + i as FileId, opts);
            if let Some(b) = &bar {
                b.inc(1);
            }
            l
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut docs_by_file: Vec<(FileId, Vec<Document>)> = Vec::with_capacity(loaded.len());
    for (input, l) in inputs.iter().zip(loaded) {
        let id = sources.add(input.display.clone(), l.text);
        if let Some(e) = l.error {
            errors.push(e);
        }
        docs_by_file.push((id, l.docs));
    }
    // Inputs that failed to load: looked up per input below, so a set, not a scan of errors.
    let mut failed: std::collections::HashSet<String> =
        errors.iter().map(|e| e.path.clone()).collect();

    // Dockerfiles: parsed in parallel from texts kept here (the source map grows later, so
    // the views cannot borrow from it).
    let dockerfile_texts: Vec<(FileId, Arc<str>)> = inputs
        .iter()
        .zip(&docs_by_file)
        .filter(|(input, _)| input.dockerfile && !failed.contains(&input.display))
        .filter_map(|(_, (id, _))| sources.get(*id).map(|f| (*id, f.text.clone())))
        .collect();
    let parsed: Vec<Result<Dockerfile<'_>, dockerfile::ParseError>> = dockerfile_texts
        .par_iter()
        .map(|(id, text)| dockerfile::parse(text, *id))
        .collect();
    let mut dockerfiles: Vec<Dockerfile<'_>> = Vec::with_capacity(parsed.len());
    for (r, (id, _)) in parsed.into_iter().zip(&dockerfile_texts) {
        match r {
            Ok(df) => dockerfiles.push(df),
            Err(e) => {
                failed.insert(sources.path(*id).to_string());
                errors.push(InputError {
                    path: sources.path(*id).to_string(),
                    line: Some(e.line),
                    col: Some(e.col),
                    message: e.message,
                })
            }
        }
    }

    let mut summary = Summary::default();
    // Classify every input and group compose files into projects.
    let mut kinds = Vec::with_capacity(inputs.len());
    for (i, (_, docs)) in docs_by_file.iter().enumerate() {
        let input = &inputs[i];
        let name = input
            .path
            .as_deref()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let kind = if input.dockerfile {
            DocKind::Dockerfile
        } else if docs.is_empty() {
            DocKind::Other
        } else if docs
            .iter()
            .any(|d| source::aci::is_container_group(&d.root))
        {
            DocKind::Aci
        } else if docs.iter().any(|d| source::is_kubernetes(&d.root)) {
            DocKind::Kubernetes
        } else if compose::is_compose_file_name(name)
            || docs.iter().any(|d| compose::looks_like_compose(&d.root))
        {
            DocKind::Compose
        } else {
            DocKind::Other
        };
        kinds.push(kind);
        if failed.contains(&input.display) {
            continue;
        }
        match kind {
            DocKind::Kubernetes => {
                summary.files_scanned += 1;
                summary.kubernetes_documents += docs
                    .iter()
                    .filter(|d| source::is_kubernetes(&d.root))
                    .count();
            }
            DocKind::Compose => {
                summary.files_scanned += 1;
                summary.compose_files += 1;
            }
            DocKind::Aci => {
                summary.files_scanned += 1;
                summary.aci_groups += docs
                    .iter()
                    .filter(|d| source::aci::is_container_group(&d.root))
                    .count();
            }
            DocKind::Dockerfile => {
                summary.files_scanned += 1;
                summary.dockerfiles += 1;
            }
            DocKind::Other => summary.files_skipped += 1,
        }
    }

    // Build the project list: (files in merge order).
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut used = vec![false; inputs.len()];
    if !opts.compose_files.is_empty() {
        let group: Vec<usize> = (explicit_start..inputs.len()).collect();
        for &g in &group {
            used[g] = true;
        }
        groups.push(group);
    }
    let mut extra_overrides: Vec<(usize, PathBuf)> = Vec::new();
    for i in 0..inputs.len() {
        if used[i] || kinds[i] != DocKind::Compose {
            continue;
        }
        let Some(path) = inputs[i].path.as_deref() else {
            groups.push(vec![i]);
            used[i] = true;
            continue;
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if compose::is_override_name(name) && base_exists(path) {
            // Merged into its base below (whether or not the base was named on the command line).
            if !inputs
                .iter()
                .any(|x| x.path.as_deref().is_some_and(|p| is_base_of(p, path)))
            {
                // Base not among inputs: audit the override alone rather than drop it.
                groups.push(vec![i]);
                used[i] = true;
            }
            continue;
        }
        let mut group = vec![i];
        used[i] = true;
        if let Some(candidates) = compose::override_names_for(name) {
            let dir = path.parent().unwrap_or(Path::new(""));
            if let Some(ov) = candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file()) {
                match inputs
                    .iter()
                    .position(|x| x.path.as_deref() == Some(ov.as_path()))
                {
                    Some(j) => {
                        used[j] = true;
                        group.push(j);
                    }
                    None => extra_overrides.push((groups.len(), ov)),
                }
            }
        }
        groups.push(group);
    }
    // Overrides found beside a base but not among the inputs are loaded now.
    for (g, ov) in extra_overrides {
        let input = Input {
            display: display_path(&ov),
            path: Some(ov),
            dockerfile: false,
        };
        let l = load_input(&input, sources.len() as FileId, opts);
        let id = sources.add(input.display.clone(), l.text);
        if let Some(e) = l.error {
            failed.insert(e.path.clone());
            errors.push(e);
        } else {
            summary.files_scanned += 1;
            summary.compose_files += 1;
        }
        inputs.push(input);
        docs_by_file.push((id, l.docs));
        groups[g].push(inputs.len() - 1);
    }

    // Compose projects are built in parallel; their documents are moved out of
    // `docs_by_file` (nothing else reads compose documents), never copied.
    let mut jobs = Vec::with_capacity(groups.len());
    for group in &groups {
        if group.iter().any(|&i| failed.contains(&inputs[i].display)) {
            continue;
        }
        let mut roots = Vec::new();
        let mut files = Vec::new();
        for &i in group {
            let (id, docs) = &mut docs_by_file[i];
            roots.extend(std::mem::take(docs).into_iter().map(|d| d.root));
            files.push(*id);
        }
        jobs.push((inputs[group[0]].path.clone(), roots, files));
    }
    let built: Vec<Result<ComposeProject, InputError>> = jobs
        .into_par_iter()
        .map(|(first, roots, files)| {
            let vars = load_vars(first.as_deref(), &opts.env)?;
            ComposeProject::build(roots, files, &vars).map_err(|e| InputError {
                path: sources.path(e.loc.file).to_string(),
                line: Some(e.loc.line),
                col: Some(e.loc.col),
                message: e.message,
            })
        })
        .collect();
    let mut notes = Vec::new();
    let mut projects: Vec<ComposeProject> = Vec::with_capacity(built.len());
    for b in built {
        match b {
            Ok(p) => {
                for (loc, msg) in &p.notes {
                    notes.push(format!(
                        "{}:{}:{}: {msg}",
                        sources.path(loc.file),
                        loc.line,
                        loc.col
                    ));
                }
                projects.push(p);
            }
            Err(e) => errors.push(e),
        }
    }

    let enabled: Vec<(&'static dyn rules::Rule, usize)> = rules::REGISTRY
        .iter()
        .copied()
        .filter_map(|r| {
            let i = policy.rules.iter().position(|c| c.meta.id == r.meta().id)?;
            policy.rules[i].level.map(|_| (r, i))
        })
        .collect();

    let kube_objects: Vec<source::kubernetes::Object<'_>> = docs_by_file
        .iter()
        .enumerate()
        .filter(|(i, _)| kinds[*i] == DocKind::Kubernetes && !failed.contains(&inputs[*i].display))
        .flat_map(|(_, (id, docs))| source::kubernetes::objects(*id, docs))
        .collect();

    let aci_groups: Vec<source::aci::ContainerGroup<'_>> = docs_by_file
        .iter()
        .enumerate()
        .filter(|(i, _)| kinds[*i] == DocKind::Aci && !failed.contains(&inputs[*i].display))
        .flat_map(|(_, (id, docs))| source::aci::groups(*id, docs))
        .collect();

    let mut findings: Vec<Finding> = if opts.parse_only {
        Vec::new()
    } else {
        let mut f: Vec<Finding> = projects
            .par_iter()
            .flat_map_iter(|p| run_compose_rules(p, &sources, &policy, &enabled))
            .collect();
        let mut kube = run_kube_rules(&kube_objects, &sources, &policy, &enabled);
        annotate_helm_sources(&mut kube, &sources);
        f.extend(kube);
        f.extend(run_aci_rules(&aci_groups, &sources, &policy, &enabled));
        f.par_extend(
            dockerfiles
                .par_iter()
                .flat_map_iter(|df| run_dockerfile_rules(df, &sources, &policy, &enabled)),
        );
        f
    };

    // Spans of secret values, taken before suppressions and exceptions drop any finding:
    // a suppressed secret must stay hidden in every other finding's excerpt too.
    let secret_spans: Vec<Loc> = findings
        .iter()
        .filter(|f| f.redact)
        .map(|f| f.loc)
        .collect();
    findings = filter(findings, &sources, &policy, opts, &mut summary);
    sources.mask(&secret_spans);
    sort_findings(&mut findings);
    errors.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));

    Ok(AuditOutcome {
        rules: enabled.iter().map(|(r, _)| r.meta()).collect(),
        sources,
        findings,
        errors,
        notes,
        summary,
    })
}

/// Sorts findings by location, then rule id; equal keys keep the rules' emission order, so
/// reports are reproducible. The small keys are sorted, not the findings: a finding is about
/// 140 bytes, which a merge sort of a large run (tens of thousands) would move a dozen times
/// each, while applying the sorted order moves each at most once more.
fn sort_findings(findings: &mut [Finding]) {
    let mut keys: Vec<(Loc, &'static str, usize)> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.loc, f.rule, i))
        .collect();
    // The index is part of the key, so the unstable sort gives the stable order.
    keys.par_sort_unstable();
    // Position k must receive the finding now at `from[k]`: follow each cycle of the
    // permutation, carrying the cycle's first finding along by swaps.
    let mut from: Vec<usize> = keys.into_iter().map(|(_, _, i)| i).collect();
    for start in 0..from.len() {
        let mut cur = start;
        loop {
            let next = from[cur];
            // Marks `cur` as placed, so a later `start` inside this cycle (or a fixed
            // point) stops at once.
            from[cur] = cur;
            if next == start {
                break;
            }
            findings.swap(cur, next);
            cur = next;
        }
    }
}

/// The enabled rules that read `target`, with their configured level and parameters.
fn rules_for<'p>(
    policy: &'p Policy,
    enabled: &'p [(&'static dyn rules::Rule, usize)],
    target: Target,
) -> impl Iterator<
    Item = (
        &'static dyn rules::Rule,
        &'p policy::RuleConfig,
        finding::Severity,
        Params<'p>,
    ),
> {
    enabled.iter().filter_map(move |(rule, i)| {
        let cfg = &policy.rules[*i];
        let level = cfg.level?;
        cfg.meta.targets.contains(&target).then_some((
            *rule,
            cfg,
            level,
            Params {
                meta: cfg.meta,
                values: &cfg.params,
            },
        ))
    })
}

fn run_compose_rules(
    project: &ComposeProject,
    sources: &SourceMap,
    policy: &Policy,
    enabled: &[(&'static dyn rules::Rule, usize)],
) -> Vec<Finding> {
    let services: Vec<_> = project.services().collect();
    // Sized for the usual yield (a handful of findings per service and rule family), so
    // the vector of large findings is not copied over and over while it grows.
    let mut out = Vec::with_capacity(services.len() * 16);
    for (rule, cfg, level, params) in rules_for(policy, enabled, Target::Compose) {
        let cx = ComposeCx {
            project,
            sources,
            params,
        };
        let mut em = Emitter::new(cfg.meta, level, &mut out);
        for svc in &services {
            rule.compose_service(&cx, svc, &mut em);
        }
        rule.compose_project(&cx, &mut em);
    }
    out
}

/// Output of `helm template` carries a `# Source: chart/templates/x.yaml` comment per
/// document; point each finding at it too, so the user knows which template to fix.
fn annotate_helm_sources(findings: &mut [Finding], sources: &SourceMap) {
    // Each file with a finding is scanned once, all in parallel; then the findings are
    // annotated in parallel (a large Helm render has tens of thousands of findings).
    let mut files: Vec<FileId> = findings.iter().map(|f| f.loc.file).collect();
    files.sort_unstable();
    files.dedup();
    // Per file, its Source comments and one shared message per template.
    type Marks<'t> = (
        source::kubernetes::HelmSources<'t>,
        std::collections::HashMap<&'t str, Arc<str>>,
    );
    let marks: std::collections::HashMap<FileId, Marks<'_>> = files
        .par_iter()
        .filter_map(|&id| {
            let file = sources.get(id)?;
            memchr::memmem::find(file.text.as_bytes(), b"# Source:")?;
            let helm = source::kubernetes::HelmSources::scan(&file.text);
            let messages = helm
                .templates()
                .map(|t| (t, Arc::from(format!("rendered from Helm template {t}"))))
                .collect();
            Some((id, (helm, messages)))
        })
        .collect();
    if marks.is_empty() {
        return;
    }
    findings.par_iter_mut().for_each(|f| {
        let Some((helm, messages)) = marks.get(&f.loc.file) else {
            return;
        };
        if let Some((line, message)) = helm
            .at(f.loc.line)
            .and_then(|(line, path)| Some((line, messages.get(path)?)))
        {
            // Usually the only related location: room for one, not the default four.
            f.related.reserve_exact(1);
            f.related.push(finding::Related {
                loc: Loc {
                    file: f.loc.file,
                    line,
                    col: 1,
                    len: 0,
                },
                message: Arc::clone(message),
            });
        }
    });
}

fn run_aci_rules(
    groups: &[source::aci::ContainerGroup<'_>],
    sources: &SourceMap,
    policy: &Policy,
    enabled: &[(&'static dyn rules::Rule, usize)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (rule, cfg, level, params) in rules_for(policy, enabled, Target::Aci) {
        let cx = AciCx { sources, params };
        let mut em = Emitter::new(cfg.meta, level, &mut out);
        for g in groups {
            rule.aci_group(&cx, g, &mut em);
        }
    }
    out
}

fn run_dockerfile_rules(
    df: &Dockerfile<'_>,
    sources: &SourceMap,
    policy: &Policy,
    enabled: &[(&'static dyn rules::Rule, usize)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (rule, cfg, level, params) in rules_for(policy, enabled, Target::Dockerfile) {
        let cx = DockerfileCx { sources, params };
        rule.dockerfile(&cx, df, &mut Emitter::new(cfg.meta, level, &mut out));
    }
    out
}

fn run_kube_rules(
    objects: &[source::kubernetes::Object<'_>],
    sources: &SourceMap,
    policy: &Policy,
    enabled: &[(&'static dyn rules::Rule, usize)],
) -> Vec<Finding> {
    if objects.is_empty() {
        return Vec::new();
    }
    let mut service_accounts: rules::ServiceAccounts<'_> = std::collections::HashMap::new();
    for o in objects.iter().filter(|o| o.kind == "ServiceAccount") {
        service_accounts
            .entry((o.effective_namespace(), o.name))
            .or_default()
            .push(*o);
    }
    // Objects in parallel chunks; the per-run (workspace) hooks once each.
    let per_object = |range: &[source::kubernetes::Object<'_>],
                      pods: &[source::kubernetes::PodSpec<'_>]| {
        let mut out = Vec::new();
        for (rule, cfg, level, params) in rules_for(policy, enabled, Target::Kubernetes) {
            let cx = KubeCx {
                objects,
                service_accounts: &service_accounts,
                sources,
                params,
            };
            let mut em = Emitter::new(cfg.meta, level, &mut out);
            for o in range {
                rule.kube_object(&cx, o, &mut em);
            }
            for p in pods {
                rule.kube_pod(&cx, p, &mut em);
            }
        }
        out
    };
    let chunk = 256;
    let mut out: Vec<Finding> = objects
        .par_chunks(chunk)
        .enumerate()
        .flat_map_iter(|(n, range)| {
            let (lo, hi) = (n * chunk, n * chunk + range.len());
            let pods_here: Vec<_> = objects[lo..hi]
                .iter()
                .filter_map(|o| o.pod_spec())
                .collect();
            per_object(range, &pods_here)
        })
        .collect();
    for (rule, cfg, level, params) in rules_for(policy, enabled, Target::Kubernetes) {
        let cx = KubeCx {
            objects,
            service_accounts: &service_accounts,
            sources,
            params,
        };
        rule.kube_workspace(&cx, &mut Emitter::new(cfg.meta, level, &mut out));
    }
    out
}

/// Applies suppressions and exceptions, then adds the engine's own policy findings.
fn filter(
    mut findings: Vec<Finding>,
    sources: &SourceMap,
    policy: &Policy,
    opts: &AuditOptions,
    summary: &mut Summary,
) -> Vec<Finding> {
    let today = policy::today();
    let mut by_file: std::collections::HashMap<FileId, Vec<Suppression>> =
        std::collections::HashMap::new();
    let mut files: Vec<FileId> = findings.iter().map(|f| f.loc.file).collect();
    if opts.report_unused_suppressions
        || policy
            .rule("suppression-missing-reason")
            .is_some_and(|r| r.level.is_some())
    {
        files.extend(0..sources.len() as FileId);
    }
    files.sort_unstable();
    files.dedup();
    // Every file with a finding is scanned: in parallel, as on a large run that is most files.
    let scanned: Vec<(FileId, Vec<Suppression>)> = files
        .par_iter()
        .filter_map(|&id| {
            let s = suppress::scan(&sources.get(id)?.text);
            (!s.is_empty()).then_some((id, s))
        })
        .collect();
    by_file.extend(scanned);
    // Filtered in place: with nothing suppressed, no finding is moved at all.
    findings.retain(|f| {
        let suppressed = by_file.get(&f.loc.file).is_some_and(|list| {
            list.iter().any(|s| {
                let hit = s.covers(f.rule, f.loc.line);
                if hit {
                    s.used.set(true);
                }
                hit
            })
        });
        let drop = suppressed || policy.excepted(f, sources.path(f.loc.file), today);
        summary.findings_suppressed += usize::from(drop);
        !drop
    });

    let meta_rule = |id: &str| policy.rule(id).and_then(|r| r.level.map(|l| (r.meta, l)));
    let mut ids: Vec<&FileId> = by_file.keys().collect();
    ids.sort();
    for id in ids {
        for s in &by_file[id] {
            let loc = Loc {
                file: *id,
                line: s.line,
                col: s.col,
                len: 0,
            };
            if s.reason.is_none() {
                if let Some((meta, level)) = meta_rule("suppression-missing-reason") {
                    Emitter::new(meta, level, &mut findings)
                        .emit(loc, format!("suppression of {} gives no reason", s.rules.join(", ")))
                        .help("add the reason after the rule list: `# elastics-sec: ignore[rule-id] why this is acceptable`");
                }
            }
            if opts.report_unused_suppressions {
                if let Some((meta, level)) = meta_rule("unused-suppression") {
                    for r in &s.rules {
                        let msg = if r != "*" && rules::find(r).is_none() {
                            format!("suppression names unknown rule `{r}`")
                        } else if !s.used.get() {
                            format!("suppression of `{r}` matches no finding")
                        } else {
                            continue;
                        };
                        Emitter::new(meta, level, &mut findings).emit(loc, msg);
                    }
                }
            }
        }
    }
    if let Some((meta, level)) = meta_rule("policy-exception-expired") {
        for e in &policy.exceptions {
            if let Some((y, m, d)) = e.expires.filter(|d| *d < today) {
                Emitter::new(meta, level, &mut findings)
                    .emit(e.loc, format!("exception for `{}` expired on {y:04}-{m:02}-{d:02} and no longer applies", e.rule))
                    .help("fix the findings and delete the exception, or review it and move the date");
            }
        }
    }
    findings
}

fn load_vars(first: Option<&Path>, env: &[(String, String)]) -> Result<Vars, InputError> {
    let mut dotenv = Vec::new();
    if let Some(dir) = first.and_then(Path::parent) {
        let p = dir.join(".env");
        if let Ok(text) = std::fs::read_to_string(&p) {
            dotenv = parse_dotenv(&text).map_err(|e| InputError {
                path: display_path(&p),
                line: Some(e.line as u32),
                col: None,
                message: e.message,
            })?;
        }
    }
    Ok(Vars::new(env.iter().cloned(), dotenv))
}

fn base_exists(override_path: &Path) -> bool {
    let dir = override_path.parent().unwrap_or(Path::new(""));
    let name = override_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    base_names(name).iter().any(|b| dir.join(b).is_file())
}

fn base_names(override_name: &str) -> &'static [&'static str] {
    if override_name.starts_with("docker-compose") {
        &["docker-compose.yaml", "docker-compose.yml"]
    } else {
        &["compose.yaml", "compose.yml"]
    }
}

fn is_base_of(base: &Path, override_path: &Path) -> bool {
    let name = override_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    base.parent() == override_path.parent()
        && base
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|b| base_names(name).contains(&b))
}

fn build_excludes(globs: &[String]) -> Result<GlobSet, AuditError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .map_err(|e| AuditError::Usage(format!("invalid --exclude glob `{g}`: {e}")))?;
        b.add(glob);
    }
    b.build()
        .map_err(|e| AuditError::Usage(format!("invalid --exclude globs: {e}")))
}

fn excluded(set: &GlobSet, path: &Path, rel: Option<&Path>) -> bool {
    !set.is_empty() && (set.is_match(path) || rel.is_some_and(|r| set.is_match(r)))
}

fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

fn is_dockerfile_path(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(dockerfile::is_dockerfile_name)
}

fn is_yaml_or_json(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml" | "yml" | "json")
    )
}

fn discover(paths: &[String], excludes: &GlobSet, errors: &mut Vec<InputError>) -> Vec<Input> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(Input {
                display: "<stdin>".into(),
                path: None,
                dockerfile: false,
            });
            continue;
        }
        let path = PathBuf::from(p);
        if path.is_dir() {
            let walker = ignore::WalkBuilder::new(&path)
                .require_git(false)
                .follow_links(false)
                .sort_by_file_name(|a, b| a.cmp(b))
                .filter_entry({
                    let excludes = excludes.clone();
                    let root = path.clone();
                    move |e| {
                        let rel = e.path().strip_prefix(&root).ok();
                        !excluded(&excludes, e.path(), rel)
                    }
                })
                .build();
            for entry in walker {
                match entry {
                    Ok(e) => {
                        let is_file = e.file_type().is_some_and(|t| t.is_file());
                        let df = is_dockerfile_path(e.path());
                        if is_file && (df || is_yaml_or_json(e.path())) {
                            out.push(Input {
                                display: display_path(e.path()),
                                path: Some(e.path().to_path_buf()),
                                dockerfile: df,
                            });
                        }
                    }
                    Err(e) => errors.push(InputError {
                        path: p.clone(),
                        line: None,
                        col: None,
                        message: format!("cannot walk directory: {e}"),
                    }),
                }
            }
        } else if path.exists() {
            if !excluded(excludes, &path, None) {
                out.push(Input {
                    display: display_path(&path),
                    dockerfile: is_dockerfile_path(&path),
                    path: Some(path),
                });
            }
        } else {
            errors.push(InputError {
                path: p.clone(),
                line: None,
                col: None,
                message: "no such file or directory".into(),
            });
        }
    }
    out
}

/// Drops repeated paths (a file named twice, or both directly and through its directory),
/// and discovered copies of the explicit `--compose-file` inputs (which start at
/// `explicit_start` and keep their order, since it is the merge order).
fn dedupe(inputs: &mut Vec<Input>, explicit_start: usize) {
    let key = |x: &Input| {
        x.path
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
    };
    let explicit = inputs.split_off(explicit_start.min(inputs.len()));
    let mut seen: std::collections::HashSet<PathBuf> = explicit.iter().filter_map(key).collect();
    inputs.retain(|x| match key(x) {
        Some(k) => seen.insert(k),
        None => true,
    });
    inputs.extend(explicit);
}

fn normalize_text(text: String) -> String {
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

fn load_input(input: &Input, id: FileId, opts: &AuditOptions) -> Loaded {
    let fail = |message: String, line: Option<u32>, col: Option<u32>, text: Arc<str>| Loaded {
        text,
        docs: Vec::new(),
        error: Some(InputError {
            path: input.display.clone(),
            line,
            col,
            message,
        }),
    };
    let mut bytes = Vec::new();
    let cap = opts.max_file_size;
    let read = match &input.path {
        None => std::io::stdin()
            .lock()
            .take(cap.saturating_add(1))
            .read_to_end(&mut bytes),
        Some(p) => std::fs::File::open(p)
            .and_then(|f| f.take(cap.saturating_add(1)).read_to_end(&mut bytes)),
    };
    if let Err(e) = read {
        return fail(format!("cannot read: {e}"), None, None, Arc::from(""));
    }
    if bytes.len() as u64 > cap {
        return fail(
            format!("file is larger than the limit of {cap} bytes (raise it with --max-file-size)"),
            None,
            None,
            Arc::from(""),
        );
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = &e.as_bytes()[..valid];
            let line = memchr::memchr_iter(b'\n', prefix).count() as u32 + 1;
            let col = prefix.iter().rev().take_while(|&&b| b != b'\n').count() as u32 + 1;
            return fail(
                format!("not valid UTF-8 (byte offset {valid}); binary file?"),
                Some(line),
                Some(col),
                Arc::from(""),
            );
        }
    };
    // One line-break rule for the parser, the source map, suppressions and reporters: a
    // byte-order mark is dropped and a bare CR (old Mac line end, which YAML counts as a
    // break) becomes LF, so every column and line agrees and masks land on the right text.
    let text = normalize_text(text);
    if text.contains('\0') {
        let line = text
            .split('\0')
            .next()
            .map_or(1, |p| p.matches('\n').count() as u32 + 1);
        return fail(
            "contains NUL bytes; binary file?".into(),
            Some(line),
            None,
            Arc::from(text),
        );
    }
    let text: Arc<str> = Arc::from(text);
    if input.dockerfile {
        // Parsed after loading, borrowing the text the source map keeps.
        return Loaded {
            text,
            docs: Vec::new(),
            error: None,
        };
    }
    match yaml::load(&text, id, opts.limits) {
        Ok(docs) => Loaded {
            text,
            docs,
            error: None,
        },
        Err(e) => fail(e.message, Some(e.line), Some(e.col), text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::finding::{Category, Severity};

    fn finding(file: FileId, line: u32, rule: &'static str, tag: usize) -> Finding {
        Finding {
            rule,
            category: Category::LeastPrivilege,
            severity: Severity::Low,
            message: format!("#{tag}"),
            help: None,
            loc: Loc {
                file,
                line,
                col: 1,
                len: 0,
            },
            related: Vec::new(),
            resource: None,
            redact: false,
        }
    }

    #[test]
    fn findings_sort_by_location_then_rule_and_keep_emission_order_on_ties() {
        // A pseudo-random mix with many equal keys, in several sizes (cycles of every length).
        let rules = ["b-rule", "a-rule", "c-rule"];
        let mut seed = 7u64;
        for n in [0, 1, 2, 3, 17, 256, 1000] {
            let mut v: Vec<Finding> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (seed >> 33) as usize;
                    finding((r % 3) as FileId, (r / 3 % 7) as u32, rules[r / 21 % 3], i)
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_by(|a, b| (a.loc, a.rule).cmp(&(b.loc, b.rule)));
            sort_findings(&mut v);
            assert_eq!(v, expected, "n = {n}");
        }
    }
}
