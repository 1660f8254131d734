//! Dockerfiles and Containerfiles: a hand-written parser that keeps the exact position of
//! every instruction and argument, and views over its result (stages, base images, the
//! effective `USER`, environment, the shell scripts of `RUN`).
//!
//! The parser follows BuildKit's Dockerfile frontend, so a file is read the way `docker
//! build` reads it:
//!
//! - **Parser directives** (`# syntax=`, `# escape=`, `# check=`, names case-insensitive)
//!   are only recognised at the very top: the first blank line, comment that is not a known
//!   directive, or instruction ends them. Each may appear once; `escape` must be `\` (the
//!   default) or `` ` ``.
//! - **Line continuations**: a line ending with the escape character (then optional spaces
//!   or tabs) continues on the next line. The pieces are joined without the escape
//!   character, and comment lines and blank lines inside a continuation are dropped. Every
//!   byte of the joined ("logical") line remembers the physical line and column it came
//!   from, so arguments are blamed exactly even when they sit on a continuation line.
//! - **Comments** are whole lines whose first non-blank character is `#`; a `#` later on a
//!   line is ordinary text (the shell may treat it as a comment in `RUN`).
//! - **Flags** (`--platform=...`, `--mount=...`, `--checksum=...`) are the leading `--`
//!   words after the keyword, for every instruction.
//! - **Exec form** is a JSON array of strings (`CMD ["a", "b"]`) for `RUN`, `CMD`,
//!   `ENTRYPOINT`, `SHELL`, `ADD`, `COPY` and `VOLUME`; anything that is not valid JSON is
//!   shell form, and a valid JSON array holding something other than strings is an error.
//! - **Heredocs** (`RUN <<EOF`, `<<-EOF`, `<<"EOF"`, several on one line, `COPY <<EOF
//!   /path`) on `RUN`, `COPY`, `ADD` (and `ONBUILD` of those) in shell form: the bodies
//!   follow the instruction line, in order, each up to a line equal to its delimiter
//!   (leading tabs ignored for `<<-`), and belong to the instruction.
//! - **`ENV`/`LABEL`** accept `K=V ...` and the legacy `K V` (value = rest of the line);
//!   **`ARG`** accepts `K` and `K=V` words. Quotes and escapes stay in the raw text, as the
//!   value is written.
//! - **Stages**: `FROM [--platform=...] image [AS name]`. `ARG`s before the first `FROM`
//!   are substituted into the image (`${V}`, `$V`, `${V:-default}`...); a variable without
//!   a known value leaves the image unknown ([`Stage::resolved`] is `None`). `FROM <name of
//!   an earlier stage>` (case-insensitive) is a stage reference, `FROM scratch` the empty
//!   image.
//!
//! Errors (unknown instruction, unterminated heredoc, bad escape directive, malformed
//! `FROM`/`ENV`/`ARG`, instructions before the first `FROM`) carry the line and column; no
//! input makes the parser panic.

use crate::audit::finding::{FileId, Loc};

/// Why a Dockerfile could not be parsed; `line`/`col` are 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

fn error_at(loc: Loc, message: impl Into<String>) -> ParseError {
    ParseError {
        line: loc.line,
        col: loc.col,
        message: message.into(),
    }
}

/// Is `name` (a file name, not a path) a Dockerfile by name? `Dockerfile`, `Dockerfile.*`,
/// `*.Dockerfile`, `Containerfile` and the same for Containerfile, compared without case,
/// except BuildKit's `*.dockerignore` companions and YAML/JSON files.
pub fn is_dockerfile_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".dockerignore")
        || lower.ends_with(".yaml")
        || lower.ends_with(".yml")
        || lower.ends_with(".json")
    {
        return false;
    }
    ["dockerfile", "containerfile"].iter().any(|base| {
        lower == *base
            || lower
                .strip_prefix(base)
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'))
            || lower
                .strip_suffix(base)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
    })
}

/// An instruction keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// Keywords are case-insensitive (`run` is `RUN`).
    pub fn parse(s: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    fn takes_json(self) -> bool {
        matches!(
            self,
            Keyword::Run
                | Keyword::Cmd
                | Keyword::Entrypoint
                | Keyword::Shell
                | Keyword::Add
                | Keyword::Copy
                | Keyword::Volume
        )
    }
}

/// A parser directive at the top of the file.
#[derive(Clone, Debug)]
pub struct Directive<'a> {
    /// Lower-cased name: `syntax`, `escape` or `check`.
    pub name: String,
    pub value: &'a str,
    /// Where the value is written.
    pub loc: Loc,
}

/// One argument, flag value, key or value of an instruction.
#[derive(Clone, Debug)]
pub struct Word {
    /// The text as written (quotes and escapes kept) for shell-form words; the decoded string
    /// for exec-form (JSON) elements.
    pub text: String,
    /// Where the word starts; `len` is 0 when it runs over several lines.
    pub loc: Loc,
    /// Byte offset of `text` in the instruction's logical line (exact words only).
    offset: usize,
    /// True when `text` is a verbatim slice of the logical line at `offset` (every shell-form
    /// word; JSON elements without escapes).
    exact: bool,
}

/// A `--name[=value]` flag.
#[derive(Clone, Debug)]
pub struct Flag {
    pub name: String,
    /// Unquoted value; `None` for a bare `--name`.
    pub value: Option<String>,
    /// The whole flag word.
    pub loc: Loc,
}

/// A `KEY=value` (or legacy `KEY value`) of `ENV`, `LABEL` or `ARG`.
#[derive(Clone, Debug)]
pub struct Pair {
    pub key: Word,
    /// Raw value text; `None` for an `ARG` without a default.
    pub value: Option<Word>,
}

/// A heredoc attached to an instruction.
#[derive(Clone, Debug)]
pub struct Heredoc<'a> {
    /// The delimiter, unquoted.
    pub name: String,
    /// `<<-`: leading tabs of body lines are stripped.
    pub chomp: bool,
    /// False when the delimiter was quoted (no variable expansion in the body).
    pub expand: bool,
    /// The `<<EOF` marker on the instruction line.
    pub loc: Loc,
    /// The body as written: every line between the instruction and the delimiter line,
    /// each with its line terminator.
    pub body: &'a str,
    /// Line number of the body's first line.
    pub body_line: u32,
    file: FileId,
}

impl Heredoc<'_> {
    /// Location of `len` bytes at byte `offset` of the body.
    pub fn loc_at(&self, offset: usize, len: usize) -> Loc {
        let before = self.body.get(..offset).unwrap_or(self.body);
        let newlines = memchr::memchr_iter(b'\n', before.as_bytes()).count() as u32;
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) as u32 + 1;
        let token = self
            .body
            .get(offset..offset.saturating_add(len))
            .unwrap_or("");
        Loc {
            file: self.file,
            line: self.body_line + newlines,
            col,
            len: if token.contains('\n') {
                0
            } else {
                token.chars().count() as u32
            },
        }
    }
}

/// A contiguous piece of a logical line and where it is in the file.
#[derive(Clone, Copy, Debug)]
struct Piece {
    start: usize,
    line: u32,
    col: u32,
}

/// An instruction's text with continuations joined, mapping every byte back to the file.
#[derive(Clone, Debug, Default)]
struct Logical {
    file: FileId,
    text: String,
    pieces: Vec<Piece>,
}

impl Logical {
    fn push(&mut self, s: &str, line: u32, col: u32) {
        self.pieces.push(Piece {
            start: self.text.len(),
            line,
            col,
        });
        self.text.push_str(s);
    }

    /// Location of `len` bytes at byte `offset`; `len` of the result is 0 when the span
    /// crosses a continuation.
    fn loc(&self, offset: usize, len: usize) -> Loc {
        let idx = self
            .pieces
            .partition_point(|p| p.start <= offset)
            .saturating_sub(1);
        let Some(p) = self.pieces.get(idx) else {
            return Loc {
                file: self.file,
                ..Loc::default()
            };
        };
        let piece_end = self
            .pieces
            .get(idx + 1)
            .map_or(self.text.len(), |n| n.start);
        let col = p.col
            + self
                .text
                .get(p.start..offset)
                .map_or(0, |s| s.chars().count()) as u32;
        let end = offset.saturating_add(len);
        let len = if end <= piece_end {
            self.text.get(offset..end).map_or(0, |s| s.chars().count()) as u32
        } else {
            0
        };
        Loc {
            file: self.file,
            line: p.line,
            col,
            len,
        }
    }

    fn word(&self, start: usize, end: usize) -> Word {
        Word {
            text: self.text.get(start..end).unwrap_or("").to_string(),
            loc: self.loc(start, end.saturating_sub(start)),
            offset: start,
            exact: true,
        }
    }
}

/// One instruction, with its arguments and heredocs.
#[derive(Clone, Debug)]
pub struct Instruction<'a> {
    pub keyword: Keyword,
    /// The keyword as written.
    pub loc: Loc,
    /// Last line of the instruction (continuations and heredoc bodies included).
    pub end_line: u32,
    pub flags: Vec<Flag>,
    /// Exec (JSON) form.
    pub exec_form: bool,
    /// Arguments after the flags: the JSON elements in exec form; in shell form the
    /// whitespace-separated words for `FROM`, `COPY`, `ADD`, `EXPOSE`, `VOLUME`,
    /// `HEALTHCHECK`, and one word holding the rest of the line for `RUN`, `CMD`,
    /// `ENTRYPOINT`, `SHELL`, `USER`, `WORKDIR`, `MAINTAINER`, `STOPSIGNAL`. Empty for
    /// `ENV`, `LABEL`, `ARG` (see `pairs`) and `ONBUILD` (see `trigger`).
    pub args: Vec<Word>,
    /// `ENV`, `LABEL`, `ARG`.
    pub pairs: Vec<Pair>,
    pub heredocs: Vec<Heredoc<'a>>,
    /// The instruction an `ONBUILD` registers.
    pub trigger: Option<Box<Instruction<'a>>>,
    line: Logical,
}

impl<'a> Instruction<'a> {
    /// The instruction itself, or the one an `ONBUILD` wraps.
    pub fn effective(&self) -> &Instruction<'a> {
        match &self.trigger {
            Some(t) if self.keyword == Keyword::Onbuild => t,
            _ => self,
        }
    }

    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Location of `len` bytes at byte `start` of `word`'s text; the word's own location
    /// when its text is not verbatim (JSON escapes).
    pub fn loc_in(&self, word: &Word, start: usize, len: usize) -> Loc {
        if word.exact {
            self.line.loc(word.offset + start, len)
        } else {
            word.loc
        }
    }

    fn can_contain_heredoc(&self) -> bool {
        let e = self.effective();
        !e.exec_form && matches!(e.keyword, Keyword::Run | Keyword::Copy | Keyword::Add)
    }

    /// The shell scripts a `RUN` (or `ONBUILD RUN`) executes: the shell-form command, the
    /// script of an exec-form `["sh", "-c", "..."]`, and heredoc bodies that the shell runs
    /// (`RUN <<EOF`, `RUN bash <<EOF`; not `RUN cat <<EOF >file` or a body whose `#!` names
    /// another interpreter). Empty for other instructions.
    pub fn run_scripts(&self) -> Vec<Script<'_>> {
        let inst = self.effective();
        let mut out = Vec::new();
        if inst.keyword != Keyword::Run {
            return out;
        }
        if inst.exec_form {
            if let Some(w) = exec_shell_script(&inst.args) {
                out.push(Script {
                    text: &w.text,
                    origin: if w.exact {
                        Origin::Line(&inst.line, w.offset)
                    } else {
                        Origin::Fixed(w.loc)
                    },
                });
            }
            return out;
        }
        let Some(cmd) = inst.args.first() else {
            return out;
        };
        out.push(Script {
            text: &cmd.text,
            origin: Origin::Line(&inst.line, cmd.offset),
        });
        if inst.heredocs.is_empty() {
            return out;
        }
        let parsed = shell::parse(&cmd.text);
        for h in &inst.heredocs {
            if heredoc_is_script(&parsed, &cmd.text, h) {
                out.push(Script {
                    text: h.body,
                    origin: Origin::Body(h),
                });
            }
        }
        out
    }
}

/// The script of `["sh", "-c", "script", ...]` (any POSIX shell, `-c` possibly combined
/// with other single-letter options such as `-ec`).
fn exec_shell_script(args: &[Word]) -> Option<&Word> {
    let first = args.first()?;
    if !shell::is_posix_shell(shell::basename(&first.text)) {
        return None;
    }
    let mut inline = false;
    for w in &args[1..] {
        let t = w.text.as_str();
        if inline && !t.starts_with('-') {
            return Some(w);
        }
        if t.starts_with('-') && !t.starts_with("--") && t.contains('c') {
            inline = true;
        }
    }
    None
}

/// Does the shell run this heredoc's body as a script?
fn heredoc_is_script(parsed: &[shell::Pipeline], text: &str, h: &Heredoc<'_>) -> bool {
    if !shebang_is_shell(h.body) {
        return false;
    }
    let commands: Vec<&shell::Command> = parsed.iter().flat_map(|p| &p.commands).collect();
    let owner = commands.iter().find(|c| {
        c.redirects.iter().any(|r| {
            r.heredoc
                && r.target
                    .as_ref()
                    .is_some_and(|t| shell::unquote(t.raw(text)) == h.name)
        })
    });
    match owner {
        Some(c) => {
            let r = shell::resolve(c, text);
            match r.main {
                None => true,
                Some(m) => {
                    let name = shell::word_name(c, m, text);
                    shell::is_posix_shell(&name) && shell::reads_stdin(c, m, text)
                }
            }
        }
        // The marker could not be matched (odd quoting): a command made only of
        // redirections runs its heredoc as the script.
        None => commands
            .iter()
            .all(|c| shell::resolve(c, text).main.is_none()),
    }
}

/// True when the body has no `#!` line or one naming a POSIX shell.
fn shebang_is_shell(body: &str) -> bool {
    let Some(rest) = body.trim_start_matches([' ', '\t']).strip_prefix("#!") else {
        return true;
    };
    let first = rest.lines().next().unwrap_or("");
    let mut words = first.split_whitespace();
    let Some(mut prog) = words.next().map(shell::basename) else {
        return true;
    };
    if prog == "env" {
        prog = words.find(|w| !w.starts_with('-')).unwrap_or("");
    }
    shell::is_posix_shell(shell::basename(prog))
}

/// Where a script's text is in the file.
#[derive(Clone, Copy, Debug)]
enum Origin<'i> {
    Line(&'i Logical, usize),
    Body(&'i Heredoc<'i>),
    Fixed(Loc),
}

/// A shell script of a `RUN`, with a way back to file positions.
#[derive(Clone, Copy, Debug)]
pub struct Script<'i> {
    pub text: &'i str,
    origin: Origin<'i>,
}

impl Script<'_> {
    /// Location of `len` bytes at byte `offset` of `text`.
    pub fn loc(&self, offset: usize, len: usize) -> Loc {
        match self.origin {
            Origin::Line(line, start) => line.loc(start + offset, len),
            Origin::Body(h) => h.loc_at(offset, len),
            Origin::Fixed(loc) => loc,
        }
    }
}

/// What a stage is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// An image from a registry.
    Image,
    /// `FROM scratch`.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
}

/// One build stage: a `FROM` and the instructions up to the next one.
#[derive(Clone, Debug)]
pub struct Stage {
    pub index: usize,
    /// Index of the `FROM` in [`Dockerfile::instructions`].
    pub from: usize,
    /// One past the stage's last instruction.
    pub end: usize,
    /// The image (or stage name) as written.
    pub image: Word,
    /// `image` with the global `ARG`s substituted; `None` when a variable has no known value.
    pub resolved: Option<String>,
    pub base: Base,
    /// `AS name`, as written.
    pub name: Option<Word>,
}

impl Stage {
    /// ``stage `build` `` or `stage 2`, for messages.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("stage `{}`", n.text.to_ascii_lowercase()),
            None => format!("stage {}", self.index),
        }
    }

    /// `stage build`, or `stage 2` (0-based, as `COPY --from=2` counts) for unnamed stages.
    pub fn resource(&self) -> String {
        match &self.name {
            Some(n) => format!("stage {}", n.text.to_ascii_lowercase()),
            None => format!("stage {}", self.index),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Clone, Debug)]
pub struct Dockerfile<'a> {
    pub file: FileId,
    pub text: &'a str,
    /// `\` unless the `escape` directive says `` ` ``.
    pub escape: char,
    pub directives: Vec<Directive<'a>>,
    pub instructions: Vec<Instruction<'a>>,
    pub stages: Vec<Stage>,
    /// `ARG`s declared before the first `FROM`, with their default when known.
    pub global_args: Vec<(String, Option<String>)>,
}

impl<'a> Dockerfile<'a> {
    /// The stage `docker build` builds without `--target`: the last one.
    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// The stage's instructions, its `FROM` first.
    pub fn stage_instructions(&self, stage: &Stage) -> &[Instruction<'a>] {
        self.instructions.get(stage.from..stage.end).unwrap_or(&[])
    }

    /// The stage an instruction belongs to (`None` for `ARG`s before the first `FROM`).
    pub fn stage_of(&self, instruction: usize) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| (s.from..s.end).contains(&instruction))
    }

    /// Resource name for findings about an instruction: its stage, or `global ARG`.
    pub fn resource_of(&self, instruction: usize) -> String {
        self.stage_of(instruction)
            .map_or_else(|| "global ARG".to_string(), Stage::resource)
    }

    /// The `USER` in effect at the end of `stage`, following `FROM <stage>` to the stages it
    /// is built on: `(stage index, instruction index, user word)` of the last `USER`, or
    /// `Err(stage index)` with the stage whose base (an image or scratch) decides the user.
    pub fn effective_user(&self, stage: usize) -> Result<(usize, usize, &Word), usize> {
        let mut current = stage;
        // Stage references only point backwards, so the walk ends; the bound is a guard.
        for _ in 0..=self.stages.len() {
            let Some(st) = self.stages.get(current) else {
                break;
            };
            let user = (st.from + 1..st.end).rev().find_map(|i| {
                let inst = self.instructions.get(i)?;
                (inst.keyword == Keyword::User)
                    .then(|| inst.args.first().map(|w| (current, i, w)))
                    .flatten()
            });
            if let Some(u) = user {
                return Ok(u);
            }
            match st.base {
                Base::Stage(j) if j < current => current = j,
                _ => return Err(current),
            }
        }
        Err(current)
    }

    /// Variables visible to instruction `at` of its stage: the stage's `ARG`s (an `ARG`
    /// without default takes the global default) and `ENV`s before it, in order.
    pub fn vars_at(&self, at: usize) -> Vec<(String, Option<String>)> {
        let mut vars: Vec<(String, Option<String>)> = Vec::new();
        let Some(st) = self.stage_of(at) else {
            return self.global_args.clone();
        };
        for inst in self.instructions.get(st.from + 1..at).unwrap_or(&[]) {
            let is_arg = inst.keyword == Keyword::Arg;
            if !matches!(inst.keyword, Keyword::Arg | Keyword::Env) {
                continue;
            }
            for p in &inst.pairs {
                let value = match &p.value {
                    Some(v) => expand(&v.text, &vars, self.escape),
                    None if is_arg => self
                        .global_args
                        .iter()
                        .rev()
                        .find(|(k, _)| *k == p.key.text)
                        .and_then(|(_, v)| v.clone()),
                    None => None,
                };
                vars.push((p.key.text.clone(), value));
            }
        }
        vars
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Line<'a> {
    start: usize,
    text: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for chunk in text.split('\n') {
        out.push(Line {
            start,
            text: chunk.trim_end_matches('\r'),
        });
        start += chunk.len() + 1;
    }
    out
}

/// Byte length of leading whitespace (and a byte-order mark, which only the first line has).
fn leading_blank(s: &str) -> usize {
    s.len()
        - s.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .len()
}

fn is_comment_line(s: &str) -> bool {
    s[leading_blank(s)..].starts_with('#')
}

/// `(line without the continuation escape, continues)`.
fn trim_continuation(s: &str, escape: char) -> (&str, bool) {
    let t = s.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(stripped) => (stripped, true),
        None => (s, false),
    }
}

/// `#[ \t]*name[ \t]*=[ \t]*value[ \t]*` → (name, value, byte offset of value).
fn directive(line: &str) -> Option<(&str, &str, usize)> {
    let lead = leading_blank(line);
    let rest = line[lead..].strip_prefix('#')?;
    let name_start = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let rest2 = &rest[name_start..];
    let name_len = rest2
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest2.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &rest2[..name_len];
    let after_name = rest2[name_len..].trim_start_matches([' ', '\t']);
    let value_part = after_name.strip_prefix('=')?;
    let value_trimmed = value_part.trim_start_matches([' ', '\t']);
    let value = value_trimmed.trim_end_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    Some((name, value, line.len() - value_trimmed.len()))
}

fn col_of(line: &str, byte: usize) -> u32 {
    line.get(..byte).map_or(0, |s| s.chars().count()) as u32 + 1
}

/// Parses a Dockerfile.
pub fn parse(text: &str, file: FileId) -> Result<Dockerfile<'_>, ParseError> {
    let lines = split_lines(text);
    let mut df = Dockerfile {
        file,
        text,
        escape: '\\',
        directives: Vec::new(),
        instructions: Vec::new(),
        stages: Vec::new(),
        global_args: Vec::new(),
    };
    let mut in_directives = true;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lno = i as u32 + 1;
        if in_directives {
            match directive(line.text) {
                Some((name, value, voff))
                    if matches!(
                        name.to_ascii_lowercase().as_str(),
                        "syntax" | "escape" | "check"
                    ) =>
                {
                    let name = name.to_ascii_lowercase();
                    let loc = Loc {
                        file,
                        line: lno,
                        col: col_of(line.text, voff),
                        len: value.chars().count() as u32,
                    };
                    if df.directives.iter().any(|d| d.name == name) {
                        return Err(error_at(
                            loc,
                            format!("only one `{name}` parser directive can be used"),
                        ));
                    }
                    if name == "escape" {
                        df.escape = match value {
                            "\\" => '\\',
                            "`" => '`',
                            _ => {
                                return Err(error_at(
                                    loc,
                                    "invalid escape character: must be \\ or `".to_string(),
                                ))
                            }
                        };
                    }
                    df.directives.push(Directive { name, value, loc });
                    i += 1;
                    continue;
                }
                _ => in_directives = false,
            }
        }
        let lead = leading_blank(line.text);
        let body = &line.text[lead..];
        if body.is_empty() || body.starts_with('#') {
            i += 1;
            continue;
        }
        let mut logical = Logical {
            file,
            ..Logical::default()
        };
        let (content, mut cont) = trim_continuation(body, df.escape);
        logical.push(content, lno, col_of(line.text, lead));
        i += 1;
        while cont && i < lines.len() {
            let l = lines[i];
            i += 1;
            if is_comment_line(l.text) || l.text.trim().is_empty() {
                continue;
            }
            let (content, c) = trim_continuation(l.text, df.escape);
            cont = c;
            logical.push(content, i as u32, 1);
        }
        if logical.text.trim().is_empty() {
            continue;
        }
        let mut inst = parse_instruction(&logical, 0, df.escape, false)?;
        inst.end_line = i as u32;
        if inst.can_contain_heredoc() && logical.text.contains("<<") {
            for m in heredoc_markers(&logical) {
                let first = i;
                let mut terminated = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let candidate = if m.chomp {
                        l.text.trim_start_matches('\t')
                    } else {
                        l.text
                    };
                    if candidate == m.name {
                        terminated = true;
                        break;
                    }
                }
                if !terminated {
                    return Err(error_at(
                        m.loc,
                        format!(
                            "unterminated heredoc: no line `{}` ends it before the end of the file",
                            m.name
                        ),
                    ));
                }
                let start = lines.get(first).map_or(text.len(), |l| l.start);
                let end = lines.get(i - 1).map_or(text.len(), |l| l.start);
                inst.heredocs.push(Heredoc {
                    name: m.name,
                    chomp: m.chomp,
                    expand: m.expand,
                    loc: m.loc,
                    body: text.get(start..end).unwrap_or(""),
                    body_line: first as u32 + 1,
                    file,
                });
            }
            inst.end_line = i as u32;
            if let Some(t) = inst.trigger.as_mut() {
                t.heredocs = inst.heredocs.clone();
            }
        }
        inst.line = logical;
        df.instructions.push(inst);
    }
    build_stages(&mut df)?;
    Ok(df)
}

/// Splits off the leading `--flag[=value]` words starting at byte `pos`; returns the flags
/// and where the arguments start.
fn extract_flags(line: &Logical, mut pos: usize) -> (Vec<Flag>, usize) {
    let s = line.text.as_str();
    let b = s.as_bytes();
    let mut flags = Vec::new();
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if !s.get(pos..).is_some_and(|t| t.starts_with("--")) {
            break;
        }
        let start = pos;
        let mut decoded = String::new();
        let mut quote: Option<u8> = None;
        let mut seg = pos;
        while pos < b.len() {
            let c = b[pos];
            match quote {
                None if c.is_ascii_whitespace() => break,
                None if c == b'"' || c == b'\'' => {
                    decoded.push_str(s.get(seg..pos).unwrap_or(""));
                    quote = Some(c);
                    pos += 1;
                    seg = pos;
                    continue;
                }
                Some(q) if c == q => {
                    decoded.push_str(s.get(seg..pos).unwrap_or(""));
                    quote = None;
                    pos += 1;
                    seg = pos;
                    continue;
                }
                _ => {}
            }
            if c == b'\\' && pos + 1 < b.len() {
                decoded.push_str(s.get(seg..pos).unwrap_or(""));
                pos += 1;
                seg = pos;
            }
            pos += 1;
        }
        // A `\` followed by a multi-byte character leaves `pos` inside it: move to a boundary.
        while pos < b.len() && !s.is_char_boundary(pos) {
            pos += 1;
        }
        decoded.push_str(s.get(seg..pos).unwrap_or(""));
        if decoded == "--" {
            break;
        }
        let body = decoded.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        flags.push(Flag {
            name,
            value,
            loc: line.loc(start, pos - start),
        });
    }
    while pos < b.len() && b[pos].is_ascii_whitespace() {
        pos += 1;
    }
    (flags, pos)
}

/// Whitespace-separated words of `s[from..to]`.
fn ws_words(line: &Logical, from: usize, to: usize) -> Vec<Word> {
    let s = line.text.get(from..to).unwrap_or("");
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push(line.word(from + st, from + i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(line.word(from + st, to));
    }
    out
}

/// Words of `s[from..to]` split like BuildKit's `parseWords`: on whitespace outside quotes,
/// with the escape character protecting the next character; quotes stay in the words.
fn quoted_words(s: &str, from: usize, to: usize, escape: char) -> Vec<(usize, usize)> {
    let seg = s.get(from..to).unwrap_or("");
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut it = seg.char_indices();
    while let Some((i, c)) = it.next() {
        match quote {
            None => {
                if c.is_whitespace() {
                    if let Some(st) = start.take() {
                        out.push((from + st, from + i));
                    }
                    continue;
                }
                if start.is_none() {
                    start = Some(i);
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    it.next();
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                } else if c == escape && q != '\'' {
                    it.next();
                }
            }
        }
    }
    if let Some(st) = start {
        out.push((from + st, to));
    }
    out
}

struct JsonElem {
    start: usize,
    end: usize,
    text: String,
    exact: bool,
}

/// A JSON array of strings spanning exactly `s[from..to]`, or `None`.
fn json_string_array(s: &str, from: usize, to: usize) -> Option<Vec<JsonElem>> {
    let b = s.as_bytes().get(..to)?;
    let ws = |p: &mut usize| {
        while *p < b.len() && matches!(b[*p], b' ' | b'\t' | b'\n' | b'\r') {
            *p += 1;
        }
    };
    let mut p = from;
    ws(&mut p);
    if b.get(p) != Some(&b'[') {
        return None;
    }
    p += 1;
    ws(&mut p);
    let mut out = Vec::new();
    if b.get(p) == Some(&b']') {
        p += 1;
    } else {
        loop {
            if b.get(p) != Some(&b'"') {
                return None;
            }
            let start = p + 1;
            p += 1;
            let mut text = String::new();
            let mut exact = true;
            let mut seg = p;
            loop {
                let c = *b.get(p)?;
                match c {
                    b'"' => break,
                    0..=0x1f => return None,
                    b'\\' => {
                        exact = false;
                        text.push_str(s.get(seg..p)?);
                        let e = *b.get(p + 1)?;
                        p += 2;
                        match e {
                            b'"' => text.push('"'),
                            b'\\' => text.push('\\'),
                            b'/' => text.push('/'),
                            b'b' => text.push('\u{8}'),
                            b'f' => text.push('\u{c}'),
                            b'n' => text.push('\n'),
                            b'r' => text.push('\r'),
                            b't' => text.push('\t'),
                            b'u' => {
                                let hex = |at: usize| {
                                    s.get(at..at + 4)
                                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                                };
                                let hi = hex(p)?;
                                p += 4;
                                let code = if (0xD800..0xDC00).contains(&hi) {
                                    if s.get(p..p + 2) != Some("\\u") {
                                        return None;
                                    }
                                    let lo = hex(p + 2)?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return None;
                                    }
                                    p += 6;
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                text.push(char::from_u32(code)?);
                            }
                            _ => return None,
                        }
                        seg = p;
                        continue;
                    }
                    _ => p += 1,
                }
            }
            text.push_str(s.get(seg..p)?);
            out.push(JsonElem {
                start,
                end: p,
                text,
                exact,
            });
            p += 1;
            ws(&mut p);
            match b.get(p) {
                Some(b',') => {
                    p += 1;
                    ws(&mut p);
                }
                Some(b']') => {
                    p += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    ws(&mut p);
    (p == to).then_some(out)
}

/// Exec-form arguments when `s[from..to]` is a JSON array; `Ok(None)` for shell form.
fn maybe_json(line: &Logical, from: usize, to: usize) -> Result<Option<Vec<Word>>, ParseError> {
    let s = line.text.as_str();
    let Some(rest) = s.get(from..to) else {
        return Ok(None);
    };
    if !rest.starts_with('[') {
        return Ok(None);
    }
    if let Some(elems) = json_string_array(s, from, to) {
        return Ok(Some(
            elems
                .into_iter()
                .map(|e| Word {
                    loc: line.loc(e.start.saturating_sub(1), e.end + 1 - e.start + 1),
                    text: e.text,
                    offset: e.start,
                    exact: e.exact,
                })
                .collect(),
        ));
    }
    match serde_json::from_str::<serde_json::Value>(rest) {
        Ok(serde_json::Value::Array(items)) => {
            let at = line.loc(from, 1);
            let mut words = Vec::new();
            for item in items {
                match item {
                    serde_json::Value::String(text) => words.push(Word {
                        text,
                        loc: at,
                        offset: from,
                        exact: false,
                    }),
                    _ => return Err(error_at(at, "exec form must be a JSON array of strings")),
                }
            }
            Ok(Some(words))
        }
        _ => Ok(None),
    }
}

fn parse_instruction<'a>(
    line: &Logical,
    from: usize,
    escape: char,
    nested: bool,
) -> Result<Instruction<'a>, ParseError> {
    let s = line.text.as_str();
    let tail = s.get(from..).unwrap_or("");
    let kw_start = from + (tail.len() - tail.trim_start().len());
    let kw_end = s
        .get(kw_start..)
        .and_then(|t| t.find(char::is_whitespace))
        .map_or(s.len(), |p| kw_start + p);
    let kw_text = s.get(kw_start..kw_end).unwrap_or("");
    let loc = line.loc(kw_start, kw_end - kw_start);
    let keyword = Keyword::parse(kw_text).ok_or_else(|| {
        error_at(
            loc,
            "unknown instruction (the word is not repeated here: it could be secret text)"
                .to_string(),
        )
    })?;
    let (flags, args_start) = extract_flags(line, kw_end);
    let args_end = args_start + s.get(args_start..).map_or(0, |t| t.trim_end().len());
    let mut inst = Instruction {
        keyword,
        loc,
        end_line: loc.line,
        flags,
        exec_form: false,
        args: Vec::new(),
        pairs: Vec::new(),
        heredocs: Vec::new(),
        trigger: None,
        line: Logical::default(),
    };
    let rest_empty = args_start >= args_end;
    let kw = keyword.as_str();
    if keyword.takes_json() {
        if let Some(words) = maybe_json(line, args_start, args_end)? {
            inst.exec_form = true;
            inst.args = words;
            return Ok(inst);
        }
    }
    match keyword {
        Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell => {
            if !rest_empty {
                inst.args.push(line.word(args_start, args_end));
            }
        }
        Keyword::User | Keyword::Workdir | Keyword::Maintainer | Keyword::Stopsignal => {
            if rest_empty {
                return Err(error_at(loc, format!("{kw} requires an argument")));
            }
            inst.args.push(line.word(args_start, args_end));
        }
        Keyword::From => {
            inst.args = ws_words(line, args_start, args_end);
            let ok = match inst.args.as_slice() {
                [_] => true,
                [_, as_kw, name] => {
                    if !as_kw.text.eq_ignore_ascii_case("as") {
                        return Err(error_at(
                            as_kw.loc,
                            "expected `AS` after the image".to_string(),
                        ));
                    }
                    if !valid_stage_name(&name.text) {
                        return Err(error_at(
                            name.loc,
                            format!(
                                "invalid stage name `{}`: it must start with a letter and contain only letters, digits, `-`, `_` and `.`",
                                name.text
                            ),
                        ));
                    }
                    true
                }
                _ => false,
            };
            if !ok {
                return Err(error_at(
                    loc,
                    "FROM requires an image, optionally followed by `AS name`",
                ));
            }
        }
        Keyword::Env | Keyword::Label => {
            inst.pairs = name_values(line, args_start, args_end, escape, kw, loc)?;
        }
        Keyword::Arg => {
            let words = quoted_words(s, args_start, args_end, escape);
            if words.is_empty() {
                return Err(error_at(loc, "ARG requires at least one argument"));
            }
            for (ws, we) in words {
                let word = s.get(ws..we).unwrap_or("");
                let (key, value) = match word.find('=') {
                    Some(eq) => (line.word(ws, ws + eq), Some(line.word(ws + eq + 1, we))),
                    None => (line.word(ws, we), None),
                };
                if key.text.is_empty() {
                    return Err(error_at(key.loc, "ARG names can not be blank"));
                }
                inst.pairs.push(Pair { key, value });
            }
        }
        Keyword::Onbuild => {
            if nested {
                return Err(error_at(loc, "ONBUILD ONBUILD is not allowed"));
            }
            if rest_empty {
                return Err(error_at(loc, "ONBUILD requires an instruction"));
            }
            let mut t = parse_instruction(line, args_start, escape, true)?;
            if matches!(t.keyword, Keyword::From | Keyword::Maintainer) {
                return Err(error_at(
                    t.loc,
                    format!(
                        "{} is not allowed as an ONBUILD trigger",
                        t.keyword.as_str()
                    ),
                ));
            }
            t.line = line.clone();
            inst.trigger = Some(Box::new(t));
        }
        Keyword::Add | Keyword::Copy | Keyword::Volume | Keyword::Expose | Keyword::Healthcheck => {
            inst.args = ws_words(line, args_start, args_end);
        }
    }
    Ok(inst)
}

/// `KEY=value ...` or the legacy `KEY value` of `ENV` and `LABEL`.
fn name_values(
    line: &Logical,
    from: usize,
    to: usize,
    escape: char,
    kw: &str,
    loc: Loc,
) -> Result<Vec<Pair>, ParseError> {
    let s = line.text.as_str();
    let words = quoted_words(s, from, to, escape);
    let Some(&(fs, fe)) = words.first() else {
        return Err(error_at(
            loc,
            format!("{kw} requires at least one argument"),
        ));
    };
    let mut out = Vec::new();
    if !s.get(fs..fe).unwrap_or("").contains('=') {
        // Legacy form: the first whitespace ends the key, the rest of the line is the value.
        let rest = s.get(fs..to).unwrap_or("");
        let Some(ws) = rest.find(char::is_whitespace) else {
            return Err(error_at(
                loc,
                format!("{kw} requires a name and a value (`{kw} NAME=value`)"),
            ));
        };
        let value_start = fs + ws + (rest[ws..].len() - rest[ws..].trim_start().len());
        out.push(Pair {
            key: line.word(fs, fs + ws),
            value: Some(line.word(value_start, to)),
        });
        return Ok(out);
    }
    for (ws, we) in words {
        let word = s.get(ws..we).unwrap_or("");
        let Some(eq) = word.find('=') else {
            return Err(error_at(
                line.loc(ws, we - ws),
                format!("an argument has no `=`: {kw} arguments must be NAME=value"),
            ));
        };
        let key = line.word(ws, ws + eq);
        if key.text.is_empty() {
            return Err(error_at(key.loc, format!("{kw} names can not be blank")));
        }
        out.push(Pair {
            key,
            value: Some(line.word(ws + eq + 1, we)),
        });
    }
    Ok(out)
}

fn valid_stage_name(name: &str) -> bool {
    if name.contains('$') {
        // Expanded at build time; nothing to check statically.
        return true;
    }
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

struct Marker {
    name: String,
    chomp: bool,
    expand: bool,
    loc: Loc,
}

/// Heredoc markers on an instruction line: words (split like a shell, quotes kept) of the
/// form `[n]<<[-]NAME`.
fn heredoc_markers(line: &Logical) -> Vec<Marker> {
    let s = line.text.as_str();
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < b.len() {
        if b[p].is_ascii_whitespace() {
            p += 1;
            continue;
        }
        let start = p;
        while p < b.len() && !b[p].is_ascii_whitespace() {
            match b[p] {
                q @ (b'\'' | b'"') => {
                    p += 1;
                    while p < b.len() && b[p] != q {
                        if q == b'"' && b[p] == b'\\' {
                            p += 1;
                        }
                        p += 1;
                    }
                    p += 1;
                }
                b'\\' => p += 2,
                _ => p += 1,
            }
        }
        let end = p.min(b.len());
        p = end;
        let word = s.get(start..end).unwrap_or("");
        let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let Some(after) = word[digits..].strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match after.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, after),
        };
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let name = shell::unquote(rest);
        if name.is_empty() {
            continue;
        }
        out.push(Marker {
            name,
            chomp,
            expand: !rest.contains(['"', '\'']),
            loc: line.loc(start, end - start),
        });
    }
    out
}

fn build_stages(df: &mut Dockerfile<'_>) -> Result<(), ParseError> {
    let mut vars: Vec<(String, Option<String>)> = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (idx, inst) in df.instructions.iter().enumerate() {
        match inst.keyword {
            Keyword::From => {
                if let Some(prev) = stages.last_mut() {
                    prev.end = idx;
                }
                let Some(image) = inst.args.first().cloned() else {
                    continue;
                };
                let name = inst.args.get(2).cloned();
                if let Some(n) = &name {
                    if stages.iter().any(|s| {
                        s.name
                            .as_ref()
                            .is_some_and(|m| m.text.eq_ignore_ascii_case(&n.text))
                    }) {
                        return Err(error_at(
                            n.loc,
                            format!("duplicate stage name `{}`", n.text),
                        ));
                    }
                }
                let resolved = expand(&image.text, &vars, df.escape);
                let base = match &resolved {
                    Some(r) => {
                        let earlier = stages.iter().position(|s| {
                            s.name
                                .as_ref()
                                .is_some_and(|m| m.text.eq_ignore_ascii_case(r))
                        });
                        match earlier {
                            Some(j) => Base::Stage(j),
                            None if r.eq_ignore_ascii_case("scratch") => Base::Scratch,
                            None => Base::Image,
                        }
                    }
                    None => Base::Image,
                };
                stages.push(Stage {
                    index: stages.len(),
                    from: idx,
                    end: df.instructions.len(),
                    image,
                    resolved,
                    base,
                    name,
                });
            }
            Keyword::Arg if stages.is_empty() => {
                for p in &inst.pairs {
                    let value = p
                        .value
                        .as_ref()
                        .and_then(|v| expand(&v.text, &vars, df.escape));
                    vars.push((p.key.text.clone(), value));
                }
            }
            _ if stages.is_empty() => {
                return Err(error_at(
                    inst.loc,
                    format!(
                        "{} before the first FROM: only ARG may come before it",
                        inst.keyword.as_str()
                    ),
                ));
            }
            _ => {}
        }
    }
    df.global_args = vars;
    df.stages = stages;
    Ok(())
}

/// Deepest nesting of `${A:-${B:-...}}` followed.
const MAX_EXPAND_DEPTH: usize = 16;

/// Substitutes variables the way the Dockerfile word processor does, removing quotes and
/// escapes: `$V`, `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}`, `${V+word}`,
/// `${V:?msg}`. A variable without a known value (declared without a default, or not
/// declared) makes the result unknown (`None`), except where a `-` default supplies one.
pub fn expand(s: &str, vars: &[(String, Option<String>)], escape: char) -> Option<String> {
    expand_depth(s, vars, escape, 0)
}

fn lookup<'v>(vars: &'v [(String, Option<String>)], name: &str) -> Option<&'v str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

fn expand_depth(
    s: &str,
    vars: &[(String, Option<String>)],
    escape: char,
    depth: usize,
) -> Option<String> {
    if depth > MAX_EXPAND_DEPTH {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    let mut in_double = false;
    while let Some((i, c)) = chars.next() {
        if c == escape {
            if let Some((_, n)) = chars.next() {
                out.push(n);
            }
            continue;
        }
        if c == '\'' && !in_double {
            for (_, n) in chars.by_ref() {
                if n == '\'' {
                    break;
                }
                out.push(n);
            }
            continue;
        }
        if c == '"' {
            in_double = !in_double;
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some((_, '{')) => {
                chars.next();
                let body_start = i + 2;
                let mut level = 1;
                let mut body_end = None;
                for (j, n) in chars.by_ref() {
                    match n {
                        '{' => level += 1,
                        '}' => {
                            level -= 1;
                            if level == 0 {
                                body_end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let body = s.get(body_start..body_end?)?;
                let name_len = body
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(body.len());
                let (name, op) = body.split_at(name_len);
                if name.is_empty() {
                    return None;
                }
                let value = lookup(vars, name);
                let piece = if op.is_empty() {
                    value?.to_string()
                } else if let Some(w) = op.strip_prefix(":-") {
                    match value {
                        Some(v) if !v.is_empty() => v.to_string(),
                        _ => expand_depth(w, vars, escape, depth + 1)?,
                    }
                } else if let Some(w) = op.strip_prefix('-') {
                    match value {
                        Some(v) => v.to_string(),
                        None => expand_depth(w, vars, escape, depth + 1)?,
                    }
                } else if let Some(w) = op.strip_prefix(":+") {
                    if value?.is_empty() {
                        String::new()
                    } else {
                        expand_depth(w, vars, escape, depth + 1)?
                    }
                } else if let Some(w) = op.strip_prefix('+') {
                    value?;
                    expand_depth(w, vars, escape, depth + 1)?
                } else if op.starts_with(":?") || op.starts_with('?') {
                    value?.to_string()
                } else {
                    // Pattern operators (`#`, `%`, `/`): not worth guessing.
                    return None;
                };
                out.push_str(&piece);
            }
            Some((_, n)) if n.is_ascii_alphabetic() || n == '_' => {
                let mut name = String::new();
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(lookup(vars, &name)?);
            }
            _ => out.push('$'),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Shell scripts
// ---------------------------------------------------------------------------------------

/// A small POSIX shell scanner for `RUN` scripts: enough structure (lists, pipelines,
/// simple commands, words, command and process substitutions, redirections, nested
/// heredocs, `sh -c '...'` scripts) to tell which commands run and what feeds them. It never
/// expands or executes anything, and gives up gracefully on what it does not understand.
pub mod shell {
    /// Deepest nesting of substitutions and inline scripts followed.
    const MAX_DEPTH: usize = 24;

    /// Commands joined by `|`.
    #[derive(Debug, Default)]
    pub struct Pipeline {
        pub commands: Vec<Command>,
    }

    /// A simple command: its words and redirections.
    #[derive(Debug, Default)]
    pub struct Command {
        pub words: Vec<Word>,
        pub redirects: Vec<Redirect>,
        /// The script of `sh -c '...'`, when the script word is one quoted string.
        pub inline: Vec<Pipeline>,
    }

    /// A word as written: bytes `start..end` of the script.
    #[derive(Debug)]
    pub struct Word {
        pub start: usize,
        pub end: usize,
        /// `$(...)`, `` `...` ``, `<(...)`, `>(...)` inside the word.
        pub subs: Vec<Vec<Pipeline>>,
    }

    impl Word {
        pub fn raw<'t>(&self, text: &'t str) -> &'t str {
            text.get(self.start..self.end).unwrap_or("")
        }
    }

    /// A redirection (`>file`, `2>&1`, `<<EOF`...).
    #[derive(Debug)]
    pub struct Redirect {
        pub start: usize,
        /// `<<` or `<<-`.
        pub heredoc: bool,
        pub target: Option<Word>,
    }

    /// Parses a script.
    pub fn parse(text: &str) -> Vec<Pipeline> {
        let mut p = Parser {
            text,
            b: text.as_bytes(),
            pos: 0,
            end: text.len(),
            depth: 0,
            pending: Vec::new(),
        };
        p.list(false)
    }

    struct Parser<'t> {
        text: &'t str,
        b: &'t [u8],
        pos: usize,
        end: usize,
        depth: usize,
        /// Heredoc delimiters whose bodies start after the next newline.
        pending: Vec<(String, bool)>,
    }

    impl Parser<'_> {
        fn at(&self, i: usize) -> Option<u8> {
            if i < self.end {
                self.b.get(i).copied()
            } else {
                None
            }
        }

        fn finish_command(&mut self, cmd: &mut Command, pipe: &mut Pipeline) {
            let mut c = std::mem::take(cmd);
            if c.words.is_empty() && c.redirects.is_empty() {
                return;
            }
            self.inline_script(&mut c);
            pipe.commands.push(c);
        }

        fn finish_pipeline(pipe: &mut Pipeline, out: &mut Vec<Pipeline>) {
            let p = std::mem::take(pipe);
            if !p.commands.is_empty() {
                out.push(p);
            }
        }

        /// Parses a list up to the end, or (inside `$(`) up to the unmatched `)`.
        fn list(&mut self, in_sub: bool) -> Vec<Pipeline> {
            let mut out = Vec::new();
            let mut pipe = Pipeline::default();
            let mut cmd = Command::default();
            let mut parens = 0usize;
            let mut target: Option<Redirect> = None;
            while let Some(c) = self.at(self.pos) {
                match c {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\\' if self.at(self.pos + 1) == Some(b'\n') => self.pos += 2,
                    b'\n' => {
                        self.pos += 1;
                        self.flush_target(&mut target, &mut cmd);
                        self.finish_command(&mut cmd, &mut pipe);
                        Self::finish_pipeline(&mut pipe, &mut out);
                        self.skip_heredoc_bodies();
                    }
                    b'#' => {
                        while self.at(self.pos).is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b';' | b'&' | b'|' | b'(' | b')' => {
                        let next = self.at(self.pos + 1);
                        if c == b'&' && next == Some(b'>') {
                            // `&>file`: a redirection, not a separator.
                            self.pos += 1;
                            continue;
                        }
                        if c == b')' && parens == 0 && in_sub {
                            self.pos += 1;
                            break;
                        }
                        match c {
                            b'(' => parens += 1,
                            b')' => parens = parens.saturating_sub(1),
                            _ => {}
                        }
                        self.flush_target(&mut target, &mut cmd);
                        self.finish_command(&mut cmd, &mut pipe);
                        let pipes_on = c == b'|' && next != Some(b'|');
                        self.pos += if next == Some(c) || (c == b'|' && next == Some(b'&')) {
                            2
                        } else {
                            1
                        };
                        if !pipes_on {
                            Self::finish_pipeline(&mut pipe, &mut out);
                        }
                    }
                    b'<' | b'>' if self.at(self.pos + 1) != Some(b'(') => {
                        self.flush_target(&mut target, &mut cmd);
                        // A word of digits right before is the file descriptor, not an argument.
                        let fd = cmd.words.last().is_some_and(|w| {
                            w.end == self.pos
                                && w.raw(self.text).bytes().all(|d| d.is_ascii_digit())
                        });
                        if fd {
                            cmd.words.pop();
                        }
                        let rest = self.text.get(self.pos..self.end).unwrap_or("");
                        let (len, heredoc) = if rest.starts_with("<<<") {
                            (3, false)
                        } else if rest.starts_with("<<-") {
                            (3, true)
                        } else if rest.starts_with("<<") {
                            (2, true)
                        } else if ["<&", "<>", ">>", ">&", ">|"]
                            .iter()
                            .any(|o| rest.starts_with(o))
                        {
                            (2, false)
                        } else {
                            (1, false)
                        };
                        target = Some(Redirect {
                            start: self.pos,
                            heredoc,
                            target: None,
                        });
                        self.pos += len;
                    }
                    _ => {
                        let w = self.word();
                        match target.take() {
                            Some(mut r) => {
                                if r.heredoc {
                                    let strip = self.text.get(r.start..r.start + 3) == Some("<<-");
                                    self.pending.push((unquote(w.raw(self.text)), strip));
                                }
                                r.target = Some(w);
                                cmd.redirects.push(r);
                            }
                            None => cmd.words.push(w),
                        }
                    }
                }
            }
            self.flush_target(&mut target, &mut cmd);
            self.finish_command(&mut cmd, &mut pipe);
            Self::finish_pipeline(&mut pipe, &mut out);
            out
        }

        fn flush_target(&self, target: &mut Option<Redirect>, cmd: &mut Command) {
            if let Some(r) = target.take() {
                cmd.redirects.push(r);
            }
        }

        fn skip_heredoc_bodies(&mut self) {
            for (delim, strip) in std::mem::take(&mut self.pending) {
                while self.pos < self.end {
                    let line_end = self
                        .text
                        .get(self.pos..self.end)
                        .and_then(|t| t.find('\n'))
                        .map_or(self.end, |i| self.pos + i);
                    let mut line = self.text.get(self.pos..line_end).unwrap_or("");
                    line = line.trim_end_matches('\r');
                    if strip {
                        line = line.trim_start_matches('\t');
                    }
                    self.pos = (line_end + 1).min(self.end);
                    if line == delim {
                        break;
                    }
                }
            }
        }

        fn word(&mut self) -> Word {
            let start = self.pos;
            let mut subs = Vec::new();
            while let Some(c) = self.at(self.pos) {
                match c {
                    b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' => break,
                    b'<' | b'>' => {
                        if self.at(self.pos + 1) == Some(b'(') {
                            self.pos += 2;
                            subs.push(self.nested());
                        } else {
                            break;
                        }
                    }
                    b'\\' => self.pos = (self.pos + 2).min(self.end),
                    b'\'' => {
                        self.pos += 1;
                        while self.at(self.pos).is_some_and(|c| c != b'\'') {
                            self.pos += 1;
                        }
                        self.pos = (self.pos + 1).min(self.end);
                    }
                    b'"' => {
                        self.pos += 1;
                        self.double_quoted(&mut subs);
                    }
                    b'`' => subs.push(self.backtick()),
                    b'$' => self.dollar(&mut subs),
                    _ => self.pos += 1,
                }
            }
            if self.pos == start {
                // Never loop without progress on something unexpected.
                self.pos += 1;
            }
            while self.pos < self.end && !self.text.is_char_boundary(self.pos) {
                self.pos += 1;
            }
            Word {
                start,
                end: self.pos.min(self.end),
                subs,
            }
        }

        fn double_quoted(&mut self, subs: &mut Vec<Vec<Pipeline>>) {
            while let Some(c) = self.at(self.pos) {
                match c {
                    b'"' => {
                        self.pos += 1;
                        return;
                    }
                    b'\\' => self.pos = (self.pos + 2).min(self.end),
                    b'`' => subs.push(self.backtick()),
                    b'$' => self.dollar(subs),
                    _ => self.pos += 1,
                }
            }
        }

        /// At a `$`: command substitution, arithmetic, `${...}`, or a plain `$`.
        fn dollar(&mut self, subs: &mut Vec<Vec<Pipeline>>) {
            match self.at(self.pos + 1) {
                Some(b'(') if self.at(self.pos + 2) == Some(b'(') => {
                    self.pos += 3;
                    let mut level = 2usize;
                    while let Some(c) = self.at(self.pos) {
                        self.pos += 1;
                        match c {
                            b'(' => level += 1,
                            b')' => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Some(b'(') => {
                    self.pos += 2;
                    subs.push(self.nested());
                }
                Some(b'{') => {
                    self.pos += 2;
                    let mut level = 1usize;
                    while let Some(c) = self.at(self.pos) {
                        self.pos += 1;
                        match c {
                            b'{' => level += 1,
                            b'}' => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => self.pos += 1,
            }
        }

        /// After `$(` / `<(` / `>(`: the list up to the matching `)`.
        fn nested(&mut self) -> Vec<Pipeline> {
            if self.depth >= MAX_DEPTH {
                let mut level = 1usize;
                while let Some(c) = self.at(self.pos) {
                    self.pos += 1;
                    match c {
                        b'(' => level += 1,
                        b')' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                return Vec::new();
            }
            self.depth += 1;
            let pending = std::mem::take(&mut self.pending);
            let r = self.list(true);
            self.pending = pending;
            self.depth -= 1;
            r
        }

        /// At a backtick: the substitution up to the next unescaped backtick.
        fn backtick(&mut self) -> Vec<Pipeline> {
            self.pos += 1;
            let start = self.pos;
            while let Some(c) = self.at(self.pos) {
                match c {
                    b'\\' => self.pos += 2,
                    b'`' => break,
                    _ => self.pos += 1,
                }
            }
            let close = self.pos.min(self.end);
            self.pos = (close + 1).min(self.end);
            self.sub_range(start, close)
        }

        /// Parses `start..end` of the same text as a separate list.
        fn sub_range(&mut self, start: usize, end: usize) -> Vec<Pipeline> {
            if self.depth >= MAX_DEPTH || start >= end {
                return Vec::new();
            }
            let mut p = Parser {
                text: self.text,
                b: self.b,
                pos: start,
                end,
                depth: self.depth + 1,
                pending: Vec::new(),
            };
            p.list(false)
        }

        /// `sh -c 'script'`: parse the quoted script too.
        fn inline_script(&mut self, cmd: &mut Command) {
            let r = resolve(cmd, self.text);
            let Some(m) = r.main else { return };
            if !is_posix_shell(&word_name(cmd, m, self.text)) {
                return;
            }
            let mut inline = false;
            let mut script = None;
            for w in &cmd.words[m + 1..] {
                let t = w.raw(self.text);
                if inline && !t.starts_with('-') {
                    script = Some((w.start, w.end));
                    break;
                }
                if t.starts_with('-') && !t.starts_with("--") && t.contains('c') {
                    inline = true;
                }
            }
            let Some((s, e)) = script else { return };
            let raw = self.text.get(s..e).unwrap_or("");
            let quoted = raw.len() >= 2
                && ((raw.starts_with('\'')
                    && raw.ends_with('\'')
                    && !raw[1..raw.len() - 1].contains('\''))
                    || (raw.starts_with('"')
                        && raw.ends_with('"')
                        && !raw[1..raw.len() - 1].contains(['"', '\\'])));
            if quoted {
                cmd.inline = self.sub_range(s + 1, e - 1);
            }
        }
    }

    /// Removes shell quoting: quotes, and backslashes outside single quotes.
    pub fn unquote(raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '\\') | (Some('"'), '\\') => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// The last path component (`/usr/bin/curl` → `curl`).
    pub fn basename(s: &str) -> &str {
        s.rsplit('/').next().unwrap_or(s)
    }

    /// The command name of word `i`: unquoted, last path component.
    pub fn word_name(cmd: &Command, i: usize, text: &str) -> String {
        cmd.words
            .get(i)
            .map_or_else(String::new, |w| basename(&unquote(w.raw(text))).to_string())
    }

    pub fn is_posix_shell(name: &str) -> bool {
        matches!(
            name,
            "sh" | "bash" | "zsh" | "ash" | "dash" | "ksh" | "mksh"
        )
    }

    /// Programs that run code they read: POSIX shells, Python, Perl.
    pub fn is_interpreter(name: &str) -> bool {
        is_posix_shell(name) || name == "perl" || is_python(name)
    }

    fn is_python(name: &str) -> bool {
        name.strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    }

    pub fn is_fetcher(name: &str) -> bool {
        matches!(name, "curl" | "wget")
    }

    /// What runs in a simple command.
    #[derive(Debug, Default)]
    pub struct Resolved {
        /// Indices of wrapper words (`sudo`, `env`, `exec`...).
        pub wrappers: Vec<usize>,
        /// Index of the word naming the program that runs.
        pub main: Option<usize>,
    }

    /// Skips assignments (`A=b`), reserved words (`then`, `do`, `!`...) and wrappers
    /// (`sudo`, `doas`, `env`, `exec`, `command`, `nohup`, `nice`, `time`, `timeout`,
    /// `busybox`) with their options, to find the program a simple command runs.
    pub fn resolve(cmd: &Command, text: &str) -> Resolved {
        let mut r = Resolved::default();
        let mut i = 0;
        let mut leading = true;
        while i < cmd.words.len() {
            let raw = cmd.words[i].raw(text);
            if leading && is_assignment(raw) {
                i += 1;
                continue;
            }
            let name = word_name(cmd, i, text);
            match name.as_str() {
                "then" | "else" | "elif" | "do" | "if" | "while" | "until" | "!" | "{" | "}"
                | "fi" | "done" | "esac" => {
                    i += 1;
                    continue;
                }
                "for" | "case" | "select" | "function" => return r,
                // `command -v x` looks `x` up; it does not run it.
                "command"
                    if cmd
                        .words
                        .get(i + 1)
                        .is_some_and(|w| matches!(w.raw(text), "-v" | "-V")) =>
                {
                    return r
                }
                _ => {}
            }
            // Options of each wrapper that take a value.
            let valued: &[&str] = match name.as_str() {
                "sudo" => &["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-T", "-U"],
                "doas" => &["-u", "-C"],
                "env" => &["-u", "-C", "-S"],
                "nice" => &["-n"],
                "timeout" => &["-s", "-k"],
                "exec" => &["-a"],
                "command" | "nohup" | "time" | "busybox" | "builtin" => &[],
                _ => {
                    r.main = Some(i);
                    return r;
                }
            };
            r.wrappers.push(i);
            leading = matches!(name.as_str(), "env" | "sudo" | "doas");
            i += 1;
            while i < cmd.words.len() {
                let raw = cmd.words[i].raw(text);
                if raw == "--" {
                    i += 1;
                    break;
                }
                if !raw.starts_with('-') || raw == "-" {
                    break;
                }
                i += if valued.contains(&raw) { 2 } else { 1 };
            }
            if name == "timeout" && i < cmd.words.len() {
                i += 1; // the duration
            }
        }
        r
    }

    fn is_assignment(raw: &str) -> bool {
        raw.split_once('=').is_some_and(|(k, _)| {
            let mut c = k.chars();
            c.next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        })
    }

    /// Does the interpreter at word `main` run the program it reads from standard input?
    /// Not when given inline code (`-c`, Perl `-e`, Python `-m`) or a script file.
    pub fn reads_stdin(cmd: &Command, main: usize, text: &str) -> bool {
        let name = word_name(cmd, main, text);
        let shell = is_posix_shell(&name);
        let mut i = main + 1;
        while let Some(w) = cmd.words.get(i) {
            let t = unquote(w.raw(text));
            i += 1;
            if t == "--" {
                break;
            }
            if t == "-" {
                return true;
            }
            if let Some(opts) = t.strip_prefix("--") {
                if shell && matches!(opts, "rcfile" | "init-file") {
                    i += 1;
                }
                continue;
            }
            if let Some(opts) = t.strip_prefix('-').or_else(|| t.strip_prefix('+')) {
                if shell {
                    if opts.contains('c') {
                        return false;
                    }
                    if opts.contains('s') {
                        return true;
                    }
                    if opts.ends_with('o') || opts.ends_with('O') {
                        i += 1;
                    }
                } else if name == "perl" {
                    if opts.contains('e') || opts.contains('E') {
                        return false;
                    }
                } else {
                    if opts.contains('c') || opts.contains('m') {
                        return false;
                    }
                    if opts.ends_with('W') || opts.ends_with('X') {
                        i += 1;
                    }
                }
                continue;
            }
            // A script file: standard input is its data.
            return false;
        }
        cmd.words.get(i).is_none_or(|w| unquote(w.raw(text)) == "-")
    }

    /// Calls `f` on every pipeline, including those inside substitutions and inline
    /// scripts.
    pub fn walk(pipes: &[Pipeline], f: &mut dyn FnMut(&Pipeline)) {
        for p in pipes {
            f(p);
            for c in &p.commands {
                for w in c
                    .words
                    .iter()
                    .chain(c.redirects.iter().filter_map(|r| r.target.as_ref()))
                {
                    for s in &w.subs {
                        walk(s, f);
                    }
                }
                walk(&c.inline, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(text: &str) -> Dockerfile<'_> {
        parse(text, 0).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn lc(l: Loc) -> (u32, u32) {
        (l.line, l.col)
    }

    #[test]
    fn names() {
        for n in [
            "Dockerfile",
            "dockerfile",
            "Dockerfile.prod",
            "bad.Dockerfile",
            "api.dockerfile",
            "Containerfile",
            "Containerfile.dev",
        ] {
            assert!(is_dockerfile_name(n), "{n}");
        }
        for n in [
            "Dockerfile.dockerignore",
            "compose.yaml",
            "Dockerfile.yaml",
            "Dockerfiles",
            ".Dockerfile",
            "Dockerfile.",
            "README.md",
        ] {
            assert!(!is_dockerfile_name(n), "{n}");
        }
    }

    #[test]
    fn instructions_with_positions() {
        let df = p("# syntax=docker/dockerfile:1\nFROM  alpine:3.19 AS base\n\n  run apk add curl\nUSER app\n");
        assert_eq!(df.directives.len(), 1);
        assert_eq!(df.directives[0].value, "docker/dockerfile:1");
        let i = &df.instructions;
        assert_eq!(i.len(), 3);
        assert_eq!(i[0].keyword, Keyword::From);
        assert_eq!(lc(i[0].loc), (2, 1));
        assert_eq!(lc(i[0].args[0].loc), (2, 7));
        assert_eq!(i[0].args[0].loc.len, 11);
        assert_eq!(lc(i[0].args[2].loc), (2, 22));
        assert_eq!(i[1].keyword, Keyword::Run);
        assert_eq!(lc(i[1].loc), (4, 3));
        assert_eq!(i[1].args[0].text, "apk add curl");
        assert_eq!(lc(i[1].args[0].loc), (4, 7));
        assert_eq!(lc(i[2].args[0].loc), (5, 6));
        assert_eq!(df.stages.len(), 1);
        assert_eq!(df.stages[0].resource(), "stage base");
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let text = "FROM a\nRUN apt-get update \\\n# a comment\n\n    && curl -fsSL https://x | sh \\\n  && true\nUSER 1\n";
        let df = p(text);
        let run = &df.instructions[1];
        assert_eq!(run.end_line, 6);
        let cmd = &run.args[0];
        assert_eq!(
            cmd.text,
            "apt-get update     && curl -fsSL https://x | sh   && true"
        );
        let off = cmd.text.find("curl").unwrap();
        let loc = run.loc_in(cmd, off, 4);
        assert_eq!((loc.line, loc.col, loc.len), (5, 8, 4));
        // A span across the continuation has no length.
        assert_eq!(run.loc_in(cmd, 0, cmd.text.len()).len, 0);
        assert_eq!(df.instructions[2].loc.line, 7);
    }

    #[test]
    fn escape_directive() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\ `\n    && echo hi\n";
        let df = p(text);
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args[0].text, "dir c:\\     && echo hi");
        // Directives are only valid at the top.
        let df = p("FROM a\n# escape=`\nRUN echo `\n");
        assert_eq!(df.escape, '\\');
        let df = p("# hello\n# escape=`\nFROM a\n");
        assert_eq!(df.escape, '\\');
        let df = p("\n# escape=`\nFROM a\n");
        assert!(df.directives.is_empty());
        let e = parse("# escape=x\nFROM a\n", 0).unwrap_err();
        assert_eq!((e.line, e.col), (1, 10));
        assert!(e.message.contains("escape"));
        let e = parse("# escape=`\n# escape=\\\nFROM a\n", 0).unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn heredocs() {
        let text = "FROM a\nRUN <<EOF bash\ncurl -sL https://x | sh\nEOF\nCOPY <<-\"A\" /a <<B /b\n\tone\n\tA\ntwo\nB\nUSER 1\n";
        let df = p(text);
        let run = &df.instructions[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].name, "EOF");
        assert_eq!(run.heredocs[0].body, "curl -sL https://x | sh\n");
        assert_eq!(run.heredocs[0].body_line, 3);
        assert_eq!(run.end_line, 4);
        let copy = &df.instructions[2];
        assert_eq!(copy.heredocs.len(), 2);
        assert!(copy.heredocs[0].chomp && !copy.heredocs[0].expand);
        assert_eq!(copy.heredocs[0].body, "\tone\n");
        assert_eq!(copy.heredocs[1].body, "two\n");
        assert_eq!(df.instructions[3].keyword, Keyword::User);
        assert_eq!(df.instructions[3].loc.line, 10);
        let h = &run.heredocs[0];
        let at = h.loc_at(h.body.find("sh").unwrap(), 2);
        assert_eq!((at.line, at.col, at.len), (3, 22, 2));
        let e = parse("FROM a\nRUN <<EOF\necho\n", 0).unwrap_err();
        assert_eq!((e.line, e.col), (2, 5));
        assert!(e.message.contains("unterminated heredoc"));
        // Exec form has no heredocs; a quoted `<<` is not one either.
        let df = p("FROM a\nRUN [\"echo\", \"<<EOF\"]\nRUN echo \"<<EOF\"\n");
        assert!(df.instructions[1].heredocs.is_empty());
        assert!(df.instructions[2].heredocs.is_empty());
    }

    #[test]
    fn heredoc_scripts() {
        let df = p("FROM a\nRUN <<EOF\nwget -qO- https://x | sh\nEOF\nRUN cat <<EOF > /f\ncurl x | sh\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN python3 <<EOF\nx\nEOF\n");
        let n = |i: usize| df.instructions[i].run_scripts().len();
        assert_eq!(n(1), 2);
        assert_eq!(n(2), 1);
        assert_eq!(n(3), 1);
        assert_eq!(n(4), 1);
    }

    #[test]
    fn exec_form() {
        let df = p("FROM a\nCMD [\"run\", \"--port\", \"8\\u0030\"]\nRUN [\"sh\", \"-c\", \"curl x | sh\"]\nENTRYPOINT [not json\n");
        let cmd = &df.instructions[1];
        assert!(cmd.exec_form);
        assert_eq!(cmd.args.len(), 3);
        assert_eq!(cmd.args[2].text, "80");
        assert_eq!(lc(cmd.args[1].loc), (2, 13));
        let run = &df.instructions[2];
        let s = run.run_scripts();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].text, "curl x | sh");
        assert_eq!(lc(s[0].loc(0, 4)), (3, 19));
        assert!(!df.instructions[3].exec_form);
        let e = parse("FROM a\nCMD [\"a\", 1]\n", 0).unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn env_and_arg_pairs() {
        let df = p("ARG V=1\nFROM a\nENV A=1 B=\"two words\" C=x\\ y\nENV LEGACY some value here\nARG TOKEN=abc NAME\nLABEL a=b\n");
        let env = &df.instructions[2];
        let kv: Vec<_> = env
            .pairs
            .iter()
            .map(|p| (p.key.text.as_str(), p.value.as_ref().unwrap().text.as_str()))
            .collect();
        assert_eq!(kv, [("A", "1"), ("B", "\"two words\""), ("C", "x\\ y")]);
        assert_eq!(lc(env.pairs[1].value.as_ref().unwrap().loc), (3, 11));
        let legacy = &df.instructions[3];
        assert_eq!(legacy.pairs[0].key.text, "LEGACY");
        assert_eq!(
            legacy.pairs[0].value.as_ref().unwrap().text,
            "some value here"
        );
        assert_eq!(lc(legacy.pairs[0].value.as_ref().unwrap().loc), (4, 12));
        let arg = &df.instructions[4];
        assert_eq!(arg.pairs.len(), 2);
        assert!(arg.pairs[1].value.is_none());
        assert!(parse("FROM a\nENV A\n", 0).is_err());
        assert!(parse("FROM a\nENV A=1 B\n", 0).is_err());
        assert!(parse("FROM a\nARG\n", 0).is_err());
    }

    #[test]
    fn stages_and_arg_substitution() {
        let text = "ARG VERSION=1.2\nARG REG\nARG TAG=${VERSION}-alpine\nFROM --platform=$BUILDPLATFORM golang:${VERSION} AS Build\nFROM base:${TAG}\nFROM ${REG}/app:latest\nFROM build AS final\nFROM scratch\nFROM alpine:${MISSING:-latest}\n";
        let df = p(text);
        let s = &df.stages;
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].resolved.as_deref(), Some("golang:1.2"));
        assert_eq!(
            df.instructions[3]
                .flag("platform")
                .unwrap()
                .value
                .as_deref(),
            Some("$BUILDPLATFORM")
        );
        assert_eq!(s[1].resolved.as_deref(), Some("base:1.2-alpine"));
        assert_eq!(s[2].resolved, None);
        assert_eq!(s[3].base, Base::Stage(0));
        assert_eq!(s[4].base, Base::Scratch);
        assert_eq!(s[5].resolved.as_deref(), Some("alpine:latest"));
        assert_eq!(s[1].resource(), "stage 1");
        assert_eq!(df.final_stage().unwrap().index, 5);
        assert!(parse("RUN x\nFROM a\n", 0).is_err());
        assert!(parse("FROM a b\n", 0).is_err());
        assert!(parse("FROM a AS 1x\n", 0).is_err());
        assert!(parse("FROM a AS x\nFROM b AS X\n", 0).is_err());
        assert!(parse("FROM a\nFOO bar\n", 0).is_err());
    }

    #[test]
    fn effective_user_follows_stage_chain() {
        let df = p("FROM a AS one\nUSER app\nFROM one AS two\nRUN x\nFROM two\n");
        let (st, _, w) = df.effective_user(2).unwrap();
        assert_eq!((st, w.text.as_str()), (0, "app"));
        let df = p("FROM a AS one\nUSER app\nFROM alpine\n");
        assert_eq!(df.effective_user(1).unwrap_err(), 1);
    }

    #[test]
    fn onbuild() {
        let df = p("FROM a\nONBUILD RUN curl x | sh\nONBUILD ENV A=1\n");
        let o = &df.instructions[1];
        assert_eq!(o.effective().keyword, Keyword::Run);
        assert_eq!(o.run_scripts().len(), 1);
        assert_eq!(df.instructions[2].effective().pairs.len(), 1);
        assert!(parse("FROM a\nONBUILD ONBUILD RUN x\n", 0).is_err());
    }

    #[test]
    fn expansion() {
        let vars = vec![
            ("A".to_string(), Some("1".to_string())),
            ("U".to_string(), None),
        ];
        let e = |s: &str| expand(s, &vars, '\\');
        assert_eq!(e("x${A}y$A").as_deref(), Some("x1y1"));
        assert_eq!(e("${U:-d}").as_deref(), Some("d"));
        assert_eq!(e("${U}"), None);
        assert_eq!(e("${NOPE}"), None);
        assert_eq!(e("'$A'\"$A\"\\$A").as_deref(), Some("$A1$A"));
        assert_eq!(e("${A:+alt}").as_deref(), Some("alt"));
        assert_eq!(e("${A#x}"), None);
        assert_eq!(e("${"), None);
    }

    #[test]
    fn shell_structure() {
        let text =
            "apt-get update && curl -fsSL https://x | sudo -E bash - ; bash -c \"$(wget -qO- y)\"";
        let pipes = shell::parse(text);
        assert_eq!(pipes.len(), 3);
        assert_eq!(pipes[1].commands.len(), 2);
        let r = shell::resolve(&pipes[1].commands[1], text);
        assert_eq!(r.wrappers, vec![0]);
        assert_eq!(
            shell::word_name(&pipes[1].commands[1], r.main.unwrap(), text),
            "bash"
        );
        let c = &pipes[2].commands[0];
        assert_eq!(c.words[2].subs.len(), 1);
        let inner = &c.words[2].subs[0][0].commands[0];
        assert_eq!(inner.words[0].raw(text), "wget");
        let pipes = shell::parse("python3 -c 'import sys' ; sh -s -- x; bash script.sh; sh");
        let stdin: Vec<bool> = pipes
            .iter()
            .map(|p| {
                let c = &p.commands[0];
                shell::reads_stdin(
                    c,
                    0,
                    "python3 -c 'import sys' ; sh -s -- x; bash script.sh; sh",
                )
            })
            .collect();
        assert_eq!(stdin, [false, true, false, true]);
    }

    #[test]
    fn shell_skips_nested_heredoc_bodies_and_comments() {
        let text = "cat <<'X' > /f\ncurl a | sh\nX\n# curl b | sh\necho ok";
        let pipes = shell::parse(text);
        let mut names = Vec::new();
        shell::walk(&pipes, &mut |p| {
            for c in &p.commands {
                names.push(c.words[0].raw(text).to_string());
            }
        });
        assert_eq!(names, ["cat", "echo"]);
    }

    /// A tiny deterministic generator, so the junk tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
            v[(self.next() % v.len() as u64) as usize]
        }
    }

    fn exercise(text: &str) {
        if let Ok(df) = parse(text, 0) {
            for (i, inst) in df.instructions.iter().enumerate() {
                for s in inst.run_scripts() {
                    let pipes = shell::parse(s.text);
                    shell::walk(&pipes, &mut |p| {
                        for c in &p.commands {
                            let r = shell::resolve(c, s.text);
                            if let Some(m) = r.main {
                                let _ = shell::reads_stdin(c, m, s.text);
                                let w = &c.words[m];
                                let _ = s.loc(w.start, w.end - w.start);
                            }
                        }
                    });
                }
                let _ = df.resource_of(i);
                let _ = df.vars_at(i);
                for p in &inst.pairs {
                    let _ = inst.loc_in(&p.key, 1, 3);
                }
            }
            for st in &df.stages {
                let _ = df.effective_user(st.index);
            }
        }
    }

    #[test]
    fn random_junk_never_panics() {
        let tokens = [
            "FROM",
            "RUN",
            "run",
            "ENV",
            "ARG",
            "USER",
            "COPY",
            "ADD",
            "ONBUILD",
            "CMD",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\\",
            "`",
            "#",
            "# escape=`\n",
            "# syntax=x\n",
            "<<",
            "<<-",
            "EOF",
            "\"",
            "'",
            "[",
            "]",
            ",",
            "=",
            "$",
            "${",
            "}",
            "$(",
            "(",
            ")",
            "|",
            "&&",
            ";",
            ">",
            "<",
            "2>&1",
            "curl",
            "sh",
            "sudo",
            "-c",
            "AS",
            "--flag=",
            "--",
            "é",
            "\u{feff}",
            "\\u00",
            "{",
            "x",
            "1",
            ":-",
            "\0",
            "ü\\",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4000 {
            let n = (rng.next() % 60) as usize;
            let text: String = (0..n).map(|_| rng.pick(&tokens)).collect();
            exercise(&text);
        }
        // Junk after a valid start, so that most inputs reach the shell scanner.
        let mut parsed = 0;
        for _ in 0..4000 {
            let n = (rng.next() % 40) as usize;
            let junk: String = (0..n).map(|_| rng.pick(&tokens)).collect();
            let text = format!("FROM a\nRUN {junk}\n");
            parsed += usize::from(parse(&text, 0).is_ok());
            exercise(&text);
        }
        assert!(parsed > 1000, "only {parsed} inputs parsed");
        // Raw bytes, lossily decoded.
        for _ in 0..2000 {
            let n = (rng.next() % 200) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| (rng.next() & 0xff) as u8).collect();
            exercise(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!(
            "FROM a\nRUN {}curl x | sh{}\n",
            "$(".repeat(5000),
            ")".repeat(5000)
        );
        exercise(&deep);
        let deep = format!("ARG A=1\nFROM a:{}\n", "${A:-".repeat(3000));
        exercise(&deep);
    }
}
