//! The `elastics-sec` binary: parses the command line, dispatches, and maps results to exit
//! codes. Everything else lives in the library.
//!
//! Exit codes of `audit`: 0 nothing at or above `--fail-on`; 1 findings at or above it;
//! 2 usage, policy or input (parse) errors. A closed stdout (broken pipe) exits 0 quietly.
//!
//! Exit codes of `inject`: 0 written; 2 usage, config or input errors (nothing written).
//!
//! Exit codes of `fetch` and `check-config`: see `elastics_sec::agent::exit` (0 ok, 3 config,
//! 4 auth, 5 not found / access denied, 6 provider unavailable, 7 output refused, 8 invalid
//! value).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use elastics_sec::audit::finding::Severity;
use elastics_sec::audit::report::{self, Report, TextOptions};
use elastics_sec::audit::rules::{self, docs};
use elastics_sec::audit::{self as engine, yaml::Limits, AuditOptions};
use elastics_sec::cli::{
    AuditArgs, CheckConfigArgs, Cli, Color, Command, FailOn, FetchArgs, LogFormat, RulesArgs,
    RulesFormat, SummaryFormat,
};
use elastics_sec::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(args) => audit(args),
        Command::Rules(args) => rules_cmd(args),
        Command::Fetch(args) => fetch_cmd(args),
        Command::CheckConfig(args) => check_config(args),
        Command::Agent(args) => agent_cmd(args.config, args.log_format, None),
        Command::Exec(args) => agent_cmd(args.config, args.log_format, Some(args.command)),
        Command::Inject(args) => inject_cmd(args),
        Command::Cert(elastics_sec::cli::CertCommand::Inspect(args)) => cert_inspect(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn severity(f: FailOn) -> Severity {
    match f {
        FailOn::Info => Severity::Info,
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    }
}

fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let opts = AuditOptions {
        paths: args.paths,
        excludes: args.exclude,
        compose_files: args.compose_file,
        policies: args.policy,
        select: args.select,
        limits: Limits {
            max_depth: args.max_depth,
            ..Limits::default()
        },
        max_file_size: args.max_file_size,
        report_unused_suppressions: args.report_unused_suppressions,
        parse_only: args.parse_only,
        env: std::env::vars().collect(),
        // Only for a person watching: never in CI logs or when stderr is redirected.
        progress: io::stderr().is_terminal(),
    };
    let outcome = match engine::run(&opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.format != report::Format::Text || args.output.is_some() {
        // Machine formats go to files or parsers; make input errors visible to the person too.
        for e in &outcome.errors {
            eprintln!("error: {e}");
        }
    }
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    let fail_on = severity(args.fail_on);
    let rep = Report {
        findings: &outcome.findings,
        errors: &outcome.errors,
        sources: &outcome.sources,
        rules: &outcome.rules,
        summary: &outcome.summary,
        fail_on,
    };
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            args.output.is_none()
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let text = TextOptions { color };
    match &args.output {
        Some(path) => {
            let mut buf = Vec::new();
            report::write(args.format, &rep, text, &mut buf)?;
            std::fs::write(path, buf)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            report::write(args.format, &rep, text, &mut out)?;
            out.flush()?;
        }
    }
    let code = if !outcome.errors.is_empty() {
        ExitCode::from(2)
    } else if outcome.findings.iter().any(|f| f.severity >= fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // The process exits next: freeing millions of nodes one by one would only cost time
    // (measured ~7% of a large run), and the operating system reclaims it all at once.
    std::mem::forget(outcome);
    Ok(code)
}

fn rules_cmd(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let meta = match &args.id {
        Some(id) => match rules::find(id) {
            Some(r) => Some(r.meta()),
            None => {
                eprintln!("error: unknown rule id `{id}` (see `elastics-sec rules`)");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let text = match (args.format, meta) {
        (RulesFormat::Json, m) => docs::json(m),
        (RulesFormat::Markdown, Some(m)) => docs::rule_markdown(m),
        (RulesFormat::Markdown, None) => docs::all_markdown(),
        (RulesFormat::Text, Some(m)) => docs::rule_markdown(m),
        (RulesFormat::Text, None) => docs::list_text(),
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr (stdout carries the summary), filtered by `ELASTICS_SEC_LOG`
/// (default `info`).
fn init_logging(format: LogFormat) {
    // A bare level (`debug`, `trace`) applies to elastics-sec only; other crates stay at
    // `warn`. SDK and HTTP crates log request and response details at debug/trace level,
    // which can include secret values, so they are only verbose when named explicitly
    // (`ELASTICS_SEC_LOG=elastics_sec=debug,aws_smithy_runtime=trace`, at your own risk).
    let spec = std::env::var("ELASTICS_SEC_LOG").unwrap_or_default();
    let spec = spec.trim();
    let directives = if spec.is_empty() {
        "warn,elastics_sec=info".to_string()
    } else if spec.contains('=') || spec.contains(',') {
        spec.to_string()
    } else {
        format!("warn,elastics_sec={spec}")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,elastics_sec=info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.with_ansi(io::stderr().is_terminal()).init(),
    }
}

/// `fetch` runs on two worker threads: its start-up burst of TLS handshakes and response
/// parsing is CPU work worth spreading.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The long-running `agent` and `exec` run on the calling thread alone: after start-up they
/// make a few version calls a minute and wait on timers and signals, and every extra worker
/// would cost resident memory (its stack and, with glibc, its own malloc arena) for nothing.
/// Blocking work still goes to tokio's on-demand blocking pool.
fn daemon_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn fetch_cmd(args: FetchArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    elastics_sec::agent::harden_process();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(elastics_sec::agent::exit::CONFIG));
        }
    };
    let rt = runtime()?;
    match rt.block_on(elastics_sec::agent::run_fetch(&cfg, args.wait)) {
        Ok(report) => {
            let mut out = io::stdout().lock();
            match args.format {
                SummaryFormat::Json => {
                    let v = serde_json::json!({
                        "output_dir": cfg.output.dir,
                        "generation": report.generation,
                        "secrets": report.written,
                    });
                    writeln!(out, "{v}")?;
                }
                SummaryFormat::Text => {
                    writeln!(
                        out,
                        "wrote {} file(s) to {} (generation {})",
                        report.written.iter().filter(|w| w.file.is_some()).count(),
                        cfg.output.dir.display(),
                        report.generation
                    )?;
                    for w in &report.written {
                        match &w.file {
                            Some(f) => writeln!(
                                out,
                                "  {:<24} -> {:<28} mode {} version {} ({} bytes)",
                                w.secret,
                                cfg.output.dir.join(f).display(),
                                w.mode,
                                w.version,
                                w.bytes
                            )?,
                            None => writeln!(
                                out,
                                "  {:<24} (template input only) version {}",
                                w.secret, w.version
                            )?,
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

fn agent_cmd(
    config: std::path::PathBuf,
    log: LogFormat,
    exec: Option<Vec<String>>,
) -> anyhow::Result<ExitCode> {
    init_logging(log);
    elastics_sec::agent::harden_process();
    let cfg = match Config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(elastics_sec::agent::exit::CONFIG));
        }
    };
    let rt = daemon_runtime()?;
    match rt.block_on(elastics_sec::agent::run::run(cfg, exec)) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(elastics_sec::agent::exit::CONFIG));
        }
    };
    let plan = elastics_sec::agent::plan(&cfg);
    let mut out = io::stdout().lock();
    match args.format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?,
        SummaryFormat::Text => {
            writeln!(
                out,
                "config {} is valid ({} environment)",
                cfg.path.display(),
                plan.environment
            )?;
            writeln!(
                out,
                "output {} (memory filesystem required: {})",
                cfg.output.dir.display(),
                !cfg.output.allow_non_tmpfs
            )?;
            for p in &plan.providers {
                writeln!(out, "provider {:<16} {}", p.name, p.kind)?;
            }
            for s in &plan.secrets {
                writeln!(
                    out,
                    "secret   {:<24} {} {:<28} {} mode {} owner {} refresh {} {}",
                    s.name,
                    s.provider,
                    s.id,
                    s.file.as_deref().map_or("(no file)".to_string(), |f| cfg
                        .output
                        .dir
                        .join(f)
                        .display()
                        .to_string()),
                    s.mode,
                    s.owner,
                    s.refresh,
                    if s.required { "required" } else { "optional" }
                )?;
            }
            for c in &plan.certificates {
                writeln!(
                    out,
                    "cert     {:<24} {}; names {}; files {}; renew {}; check every {} {}",
                    c.name,
                    c.source,
                    c.sans.join(", "),
                    c.files.join(", "),
                    c.renew,
                    c.check,
                    if c.required { "required" } else { "optional" }
                )?;
            }
            for n in &plan.notify {
                writeln!(out, "notify   {n}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `inject`: exit 0 on success, 2 on an input, config or usage error (nothing is written
/// then: every input is processed before any output or in-place rewrite).
fn inject_cmd(args: elastics_sec::cli::InjectArgs) -> anyhow::Result<ExitCode> {
    use elastics_sec::cli::InjectMode;
    use elastics_sec::inject::{self, InputKind, Mode, Options, SecretSel, Session};
    let mode = match args.mode {
        InjectMode::Init => Mode::Init,
        InjectMode::Sidecar => Mode::Sidecar,
        InjectMode::Both => Mode::Both,
    };
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(2))
    };
    let mut opts = Options::new(mode);
    if let Some(image) = args.image {
        opts.image = image;
    }
    opts.config_map = args.config_map;
    opts.services = args.service;
    for s in &args.secret {
        match SecretSel::parse(s) {
            Ok(sel) => opts.secrets.push(sel),
            Err(e) => return fail(e),
        }
    }
    if let Some(path) = &args.config {
        opts = match opts.with_config(path) {
            Ok(o) => o,
            Err(e) => return fail(e.to_string()),
        };
    } else if !opts.secrets.is_empty() {
        return fail("--secret needs --config (the names are checked against it)".into());
    }
    let stdin_count = args.paths.iter().filter(|p| *p == "-").count();
    if args.in_place && stdin_count > 0 {
        return fail("--in-place needs file paths, not stdin".into());
    }
    let mut session = Session::default();
    let mut results = Vec::new();
    for p in &args.paths {
        let (name, text, dir) = if p == "-" {
            let mut s = String::new();
            io::Read::read_to_string(&mut io::stdin(), &mut s).context("cannot read stdin")?;
            ("<stdin>".to_string(), s, None)
        } else {
            let path = std::path::Path::new(p);
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(format!("{p}: {e}")),
            };
            let dir = path
                .parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        std::path::Path::new(".")
                    } else {
                        d
                    }
                })
                .map(std::path::Path::to_path_buf);
            (p.clone(), text, dir)
        };
        match inject::inject(&name, &text, dir.as_deref(), &opts, &mut session) {
            Ok(out) => {
                for n in &out.notes {
                    eprintln!("note: {n}");
                }
                results.push((p.clone(), text, out));
            }
            Err(e) => return fail(e.to_string()),
        }
    }
    if results
        .iter()
        .filter(|(_, _, o)| o.kind == InputKind::Compose)
        .count()
        > 0
        && results.len() > 1
        && !args.in_place
    {
        return fail("a compose file must be injected on its own (or with --in-place)".into());
    }
    if args.in_place {
        for (p, before, out) in &results {
            if *before != out.text {
                write_replacing(std::path::Path::new(p), &out.text)
                    .with_context(|| format!("cannot write {p}"))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut all = String::new();
    for (i, (_, _, out)) in results.iter().enumerate() {
        if i > 0 && !all.is_empty() {
            if !all.ends_with('\n') {
                all.push('\n');
            }
            if !out.text.trim_start().starts_with("---") {
                all.push_str("---\n");
            }
        }
        all.push_str(&out.text);
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, all).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(all.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces a file atomically (a sibling temporary file renamed over it), keeping its
/// permissions, so an interrupted `inject --in-place` never leaves half a manifest.
fn write_replacing(path: &std::path::Path, text: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.inject-{}", std::process::id()));
    let perms = std::fs::metadata(path)?.permissions();
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, perms)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn cert_inspect(args: elastics_sec::cli::CertInspectArgs) -> anyhow::Result<ExitCode> {
    use elastics_sec::tls::inspect::{inspect, text, InspectOptions};
    let password = match (&args.password, &args.password_file) {
        (Some(p), _) => Some(p.clone().into_bytes()),
        (None, Some(f)) => match std::fs::read(f) {
            Ok(mut b) => {
                while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    b.pop();
                }
                Some(b)
            }
            Err(e) => {
                eprintln!("error: --password-file {}: {e}", f.display());
                return Ok(ExitCode::from(2));
            }
        },
        (None, None) => None,
    };
    let opts = InspectOptions {
        password,
        key: args.key,
        ca: args.ca,
        sans: args.sans,
    };
    let mut reports = Vec::new();
    let mut unreadable = false;
    for f in &args.files {
        match inspect(f, &opts) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                unreadable = true;
            }
        }
    }
    let mut out = io::stdout().lock();
    match args.format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?,
        SummaryFormat::Text => {
            for r in &reports {
                write!(out, "{}", text(r))?;
            }
        }
    }
    Ok(ExitCode::from(if unreadable {
        2
    } else if reports.iter().all(|r| r.ok()) {
        0
    } else {
        1
    }))
}

fn completions(args: elastics_sec::cli::CompletionsArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    // Into a buffer first: clap_complete panics on a write error such as a closed pipe.
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "elastics-sec", &mut buf);
    match io::stdout().lock().write_all(&buf) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

fn man(args: elastics_sec::cli::ManArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match args.out_dir {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            match io::stdout().lock().write_all(&buf) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
