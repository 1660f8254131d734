//! Compose-style variable interpolation and `.env` parsing.
//!
//! An auditor must look at a compose file the way `docker compose` will
//! after it has substituted variables, otherwise `image: ${IMAGE:-nginx}` or
//! `privileged: ${PRIV:-true}` hide exactly what the audit is about. This
//! module reproduces the Compose Specification "Interpolation" rules as
//! implemented by compose-go, with a hand-written parser instead of
//! compose-go's regular expressions so that nesting is matched precisely and
//! every failure has an offset.
//!
//! # Interpolation
//!
//! * `$VAR` and `${VAR}` expand to the value, or to `""` when `VAR` is unset;
//!   such names are reported in [`Interpolated::unset`] because compose warns
//!   about them.
//! * `${VAR:-default}` uses `default` when `VAR` is unset or empty,
//!   `${VAR-default}` only when it is unset.
//! * `${VAR:?message}` fails when `VAR` is unset or empty, `${VAR?message}`
//!   only when it is unset ([`InterpolateError::Required`]).
//! * `${VAR:+alt}` expands to `alt` when `VAR` is set and non-empty,
//!   `${VAR+alt}` when it is set at all; otherwise both expand to `""`.
//! * Operands may contain further expressions (`${A:-${B:-x}}`) and balanced
//!   literal braces (`${A:-{x}}` gives `{x}`); the first `}` that closes no
//!   literal `{` ends the expression.
//! * `$$` is a literal `$`. A `$` not followed by `$`, `{` or a name start
//!   (`$1`, `$ `, a trailing `$`) is kept literally, as current compose does.
//! * Names are `[_A-Za-z][_A-Za-z0-9]*`; `${}`, `${1A}`, `${A B}`, `${A:x}` and
//!   an unclosed `${` are [`InterpolateError::Syntax`] errors.
//! * Nesting is limited to [`MAX_DEPTH`] levels so that hostile input cannot
//!   drive the recursion without bound.
//!
//! Like compose-go, default and alternate operands are interpolated eagerly,
//! even when the outer variable makes them irrelevant: a failing
//! `${B:?...}` inside `${A:-...}` fails even when `A` is set, and unset
//! variables inside an unused default are still reported, because that is
//! what `docker compose` itself warns about or rejects.
//!
//! Unlike compose-go, the message of `${VAR:?message}` is returned as
//! written (only checked for syntax), not interpolated: error text must never
//! carry a variable's value, since values are often secrets.
//!
//! # `.env` files
//!
//! [`parse_dotenv`] follows compose-go's dotenv parser; see its documentation
//! for the exact rules and the few places where this one is stricter.
//! [`Vars::new`] then layers the process environment over the file, so the
//! shell wins, as with `docker compose`.

use std::collections::HashMap;
use std::fmt;

/// Deepest `${` nesting accepted before [`InterpolateError::Syntax`]; far
/// beyond anything a real compose file uses, small enough that the
/// recursion it allows is harmless.
pub const MAX_DEPTH: usize = 32;

/// Variables visible to interpolation: the process environment overlaid on
/// the pairs of an optional `.env` file.
///
/// `Debug` lists variable names only, never values, so that a stray debug
/// print cannot leak a secret.
#[derive(Clone, Default)]
pub struct Vars {
    map: HashMap<String, String>,
}

impl Vars {
    /// Build from the process environment and an optional `.env` file's
    /// parsed pairs.
    ///
    /// Like docker compose, the process environment WINS over `.env` values;
    /// among duplicate `.env` keys the last one wins. Pass the environment
    /// from `std::env::vars_os()` filtered to valid UTF-8, since
    /// `std::env::vars()` panics on a non-Unicode entry.
    pub fn new(
        process_env: impl IntoIterator<Item = (String, String)>,
        dotenv: Vec<(String, String)>,
    ) -> Vars {
        let mut map: HashMap<String, String> = dotenv.into_iter().collect();
        map.extend(process_env);
        Vars { map }
    }

    /// The value of `name`, or `None` when it is unset (an empty value is
    /// set).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    fn insert(&mut self, name: String, value: String) {
        self.map.insert(name, value);
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.map.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Vars")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

/// Why a string could not be interpolated.
///
/// Neither variant ever contains a variable's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${VAR:?message}` / `${VAR?message}` with VAR unset (or empty for
    /// `:?`). Carries the variable name and the user's message.
    #[error("required variable {name} is missing a value: {message}")]
    Required {
        /// The required variable.
        name: String,
        /// The message text exactly as written after `?`, not interpolated.
        message: String,
        /// Char offset in the input of the `$` that starts the expression.
        offset: usize,
    },
    /// Malformed expression such as `${` without `}` or `${}` or an invalid
    /// name.
    #[error("invalid interpolation format at offset {offset}: {detail}")]
    Syntax {
        /// Char offset in the input where the bad expression starts.
        offset: usize,
        /// What is wrong; describes the problem without quoting the input.
        detail: String,
    },
}

/// Result of interpolating one string.
///
/// `value` is always an owned `String`: when the input holds no `$` it is a
/// single copy of the input and nothing else is allocated (`unset` stays an
/// unallocated empty `Vec`), which keeps the common case cheap without
/// tying the result to the input's lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The interpolated text.
    pub value: String,
    /// true when any `$` expression or `$$` was present
    pub changed: bool,
    /// names of variables that were referenced but unset and had no default
    /// (compose warns and substitutes ""); each name once, in order of first
    /// reference
    pub unset: Vec<String>,
}

/// Interpolate `input` against `vars` with compose semantics (see the module
/// documentation).
///
/// # Errors
///
/// [`InterpolateError::Required`] for a `?` expression whose variable is
/// missing, [`InterpolateError::Syntax`] for a malformed expression or one
/// nested deeper than [`MAX_DEPTH`]. The first error in the input wins.
pub fn interpolate(input: &str, vars: &Vars) -> Result<Interpolated, InterpolateError> {
    // Most scalars in a compose file contain no `$`; `find` on a char is a
    // vectorised byte search, so they cost one scan and one copy.
    let Some(first) = input.find('$') else {
        return Ok(Interpolated {
            value: input.to_owned(),
            changed: false,
            unset: Vec::new(),
        });
    };
    let mut out = String::with_capacity(input.len());
    out.push_str(&input[..first]);
    let mut parser = Parser {
        src: input,
        vars,
        pos: first,
        changed: false,
        unset: Vec::new(),
    };
    parser.parse_top(&mut out)?;
    Ok(Interpolated {
        value: out,
        changed: parser.changed,
        unset: parser.unset,
    })
}

const UNTERMINATED: &str = "unterminated `${` expression: missing closing `}`";
const EMPTY_NAME: &str = "empty variable name in `${}`";
const INVALID_NAME: &str = "invalid variable name: names must match [_A-Za-z][_A-Za-z0-9]*";
const BAD_AFTER_NAME: &str =
    "unexpected character after variable name: expected `}` or one of `:-` `-` `:?` `?` `:+` `+`";
const TOO_DEEP: &str = "expressions nested too deeply";

/// Whether nested expressions are evaluated or only checked for syntax (the
/// latter inside `?` messages, which are reported as written).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Evaluate,
    SyntaxOnly,
}

/// The operator of a braced expression; `colon` means an empty value counts
/// as unset.
#[derive(Clone, Copy)]
enum Op {
    Default { colon: bool },
    Required { colon: bool },
    Alternate { colon: bool },
}

/// Recursive-descent interpolator over one input string.
///
/// Positions are byte offsets. Every position the parser stops at is an
/// ASCII delimiter (`$`, `{`, `}`, operator, name byte), and UTF-8
/// continuation bytes are never ASCII, so slicing there is always on a char
/// boundary; offsets are converted to chars only when an error is built.
struct Parser<'a> {
    src: &'a str,
    vars: &'a Vars,
    pos: usize,
    changed: bool,
    unset: Vec<String>,
}

impl Parser<'_> {
    fn parse_top(&mut self, out: &mut String) -> Result<(), InterpolateError> {
        let src = self.src;
        while self.pos < src.len() {
            match src[self.pos..].find('$') {
                None => {
                    out.push_str(&src[self.pos..]);
                    self.pos = src.len();
                }
                Some(rel) => {
                    let at = self.pos + rel;
                    out.push_str(&src[self.pos..at]);
                    self.pos = at;
                    self.parse_dollar(out, 0, Mode::Evaluate)?;
                }
            }
        }
        Ok(())
    }

    /// Handle the `$` at `self.pos`.
    fn parse_dollar(
        &mut self,
        out: &mut String,
        depth: usize,
        mode: Mode,
    ) -> Result<(), InterpolateError> {
        let src = self.src;
        let bytes = src.as_bytes();
        let start = self.pos;
        match bytes.get(start + 1).copied() {
            Some(b'$') => {
                out.push('$');
                self.pos = start + 2;
                self.changed = true;
                Ok(())
            }
            Some(b'{') => self.parse_braced(out, depth, mode),
            Some(c) if is_name_start(c) => {
                let end = name_end(bytes, start + 1);
                self.pos = end;
                self.changed = true;
                if mode == Mode::Evaluate {
                    self.push_plain(&src[start + 1..end], out);
                }
                Ok(())
            }
            _ => {
                out.push('$');
                self.pos = start + 1;
                Ok(())
            }
        }
    }

    /// Handle the `${` at `self.pos`; `depth` counts enclosing expressions.
    fn parse_braced(
        &mut self,
        out: &mut String,
        depth: usize,
        mode: Mode,
    ) -> Result<(), InterpolateError> {
        let src = self.src;
        let bytes = src.as_bytes();
        let start = self.pos;
        if depth >= MAX_DEPTH {
            return Err(self.syntax(start, TOO_DEEP));
        }
        let name_start = start + 2;
        match bytes.get(name_start).copied() {
            None => return Err(self.syntax(start, UNTERMINATED)),
            Some(b'}') => return Err(self.syntax(start, EMPTY_NAME)),
            Some(c) if !is_name_start(c) => return Err(self.syntax(start, INVALID_NAME)),
            Some(_) => {}
        }
        let end = name_end(bytes, name_start);
        let name = &src[name_start..end];
        let (op, operand_start) = match bytes.get(end).copied() {
            None => return Err(self.syntax(start, UNTERMINATED)),
            Some(b'}') => {
                self.pos = end + 1;
                self.changed = true;
                if mode == Mode::Evaluate {
                    self.push_plain(name, out);
                }
                return Ok(());
            }
            Some(b':') => match bytes.get(end + 1).copied().and_then(|c| op_for(c, true)) {
                Some(op) => (op, end + 2),
                None if end + 1 >= bytes.len() => return Err(self.syntax(start, UNTERMINATED)),
                None => return Err(self.syntax(start, BAD_AFTER_NAME)),
            },
            Some(c) => match op_for(c, false) {
                Some(op) => (op, end + 1),
                None => return Err(self.syntax(start, BAD_AFTER_NAME)),
            },
        };
        self.changed = true;
        self.pos = operand_start;

        if let Op::Required { colon } = op {
            // The message is only validated so that its braces close the
            // expression correctly; it is reported verbatim.
            let mut discard = String::new();
            self.parse_operand(&mut discard, depth + 1, Mode::SyntaxOnly, start)?;
            if mode == Mode::SyntaxOnly {
                return Ok(());
            }
            return match self.vars.get(name) {
                Some(value) if !(colon && value.is_empty()) => {
                    out.push_str(value);
                    Ok(())
                }
                _ => Err(InterpolateError::Required {
                    name: name.to_owned(),
                    // `self.pos` is just past the closing `}`.
                    message: src[operand_start..self.pos - 1].to_owned(),
                    offset: char_offset(src, start),
                }),
            };
        }

        // Evaluated before looking at the variable, as compose-go does, so
        // errors and unset warnings inside an unused operand still surface.
        let mut operand = String::new();
        self.parse_operand(&mut operand, depth + 1, mode, start)?;
        if mode == Mode::SyntaxOnly {
            return Ok(());
        }
        let value = self.vars.get(name);
        let present = |colon: bool| value.is_some_and(|v| !(colon && v.is_empty()));
        match op {
            Op::Default { colon } => match value {
                Some(v) if present(colon) => out.push_str(v),
                _ => out.push_str(&operand),
            },
            Op::Alternate { colon } => {
                if present(colon) {
                    out.push_str(&operand);
                }
            }
            Op::Required { .. } => {}
        }
        Ok(())
    }

    /// Parse an operand up to and including the `}` that closes the
    /// expression starting at `expr_start`, appending its expansion to
    /// `out`. Literal `{`…`}` pairs inside it are kept, which is how
    /// compose-go matches braces too.
    fn parse_operand(
        &mut self,
        out: &mut String,
        depth: usize,
        mode: Mode,
        expr_start: usize,
    ) -> Result<(), InterpolateError> {
        let src = self.src;
        let bytes = src.as_bytes();
        let mut open_literals = 0usize;
        loop {
            let run_start = self.pos;
            while self.pos < bytes.len() && !matches!(bytes[self.pos], b'$' | b'{' | b'}') {
                self.pos += 1;
            }
            out.push_str(&src[run_start..self.pos]);
            match bytes.get(self.pos).copied() {
                None => return Err(self.syntax(expr_start, UNTERMINATED)),
                Some(b'$') => self.parse_dollar(out, depth, mode)?,
                Some(b'{') => {
                    open_literals += 1;
                    out.push('{');
                    self.pos += 1;
                }
                Some(_) if open_literals > 0 => {
                    open_literals -= 1;
                    out.push('}');
                    self.pos += 1;
                }
                Some(_) => {
                    self.pos += 1;
                    return Ok(());
                }
            }
        }
    }

    fn push_plain(&mut self, name: &str, out: &mut String) {
        match self.vars.get(name) {
            Some(value) => out.push_str(value),
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_owned());
                }
            }
        }
    }

    fn syntax(&self, start: usize, detail: &str) -> InterpolateError {
        InterpolateError::Syntax {
            offset: char_offset(self.src, start),
            detail: detail.to_owned(),
        }
    }
}

fn op_for(c: u8, colon: bool) -> Option<Op> {
    match c {
        b'-' => Some(Op::Default { colon }),
        b'?' => Some(Op::Required { colon }),
        b'+' => Some(Op::Alternate { colon }),
        _ => None,
    }
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// Index of the first byte at or after `from` that cannot continue a name.
fn name_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&c| !is_name_char(c)))
        .map_or(bytes.len(), |rel| from + rel)
}

fn is_valid_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!(bytes.first(), Some(&c) if is_name_start(c)) && bytes.iter().all(|&c| is_name_char(c))
}

fn char_offset(src: &str, byte: usize) -> usize {
    src.get(..byte)
        .map_or(byte, |prefix| prefix.chars().count())
}

/// A malformed `.env` file.
///
/// The message names variables and describes the problem but never quotes
/// the file's text, which may hold secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DotenvError {
    /// 1-based line where the offending statement starts.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse a `.env` file as docker compose does.
///
/// Rules (compose-go's dotenv parser):
///
/// * A leading UTF-8 byte-order mark is skipped. Blank lines and lines whose
///   first non-blank character is `#` are ignored.
/// * A statement is `KEY=VALUE`, or `KEY: VALUE` (compose also accepts the
///   YAML-like form), optionally prefixed by `export `. Blanks around the key
///   and before the value are ignored.
/// * `KEY` alone (no `=`) asks compose to inherit `KEY` from the shell; it
///   neither sets nor unsets anything, and since [`Vars::new`] lets the
///   process environment win anyway, it is skipped (its name is still
///   validated).
/// * Keys must match `[_A-Za-z][_A-Za-z0-9]*`. This is stricter than
///   compose-go, which also accepts `.`, `-`, `[`, `]`, leading digits and
///   non-ASCII letters, because such keys could never be referenced by
///   interpolation.
/// * Unquoted values run to the end of the line, are cut at the first ` #`
///   (a space, then `#`: an inline comment) and trimmed. A `#` right after
///   `=` (even after blanks) is therefore part of the value, as in compose.
/// * Single-quoted values are literal: no escapes, no interpolation; like
///   compose, a `'` preceded by `\` does not close the value and the
///   backslash stays.
/// * Double-quoted values may span lines and process `\n` `\r` `\t` `\\`
///   `\"` `\a` `\b` `\f` `\v`, `\$` (a literal `$`) and `\0` with three octal
///   digits; any other backslash is kept. A `\"` never closes the value
///   (compose-go's check is looser, so it mis-reads a value ending in `\\`).
/// * After a closing quote, parsing continues on the same line exactly as
///   compose does: blanks and a `#` comment are skipped, anything else starts
///   the next statement.
/// * Unquoted and double-quoted values are interpolated with full compose
///   syntax against the entries defined earlier in the file only (compose
///   also consults the process environment first; callers that need that
///   can re-resolve with [`Vars`]). Unset references become `""`.
/// * A repeated key keeps its first position with its last value.
///
/// # Errors
///
/// Any malformed statement, unterminated quote or failed interpolation is a
/// [`DotenvError`] with the 1-based line where the statement starts.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = DotenvParser {
        src,
        pos: 0,
        line: 1,
        counted: 0,
        vars: Vars::default(),
        out: Vec::new(),
        index: HashMap::new(),
    };
    parser.run()?;
    Ok(parser.out)
}

/// Statement-stream parser mirroring compose-go's structure, so that the
/// odd cases (text after a closing quote, `export` alone) behave the same.
struct DotenvParser<'a> {
    src: &'a str,
    pos: usize,
    /// Line number at byte `counted`; advanced lazily and monotonically so
    /// line tracking costs one pass over the file in total.
    line: usize,
    counted: usize,
    vars: Vars,
    out: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl DotenvParser<'_> {
    fn run(&mut self) -> Result<(), DotenvError> {
        loop {
            self.skip_blank_and_comments();
            if self.pos >= self.src.len() {
                return Ok(());
            }
            let line = self.line_at(self.pos);
            self.statement(line)?;
        }
    }

    fn line_at(&mut self, pos: usize) -> usize {
        if pos > self.counted {
            let newlines = self.src.as_bytes()[self.counted..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines;
            self.counted = pos;
        }
        self.line
    }

    fn skip_blank_and_comments(&mut self) {
        let src = self.src;
        loop {
            let rest = &src[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if !trimmed.starts_with('#') {
                return;
            }
            self.pos = trimmed.find('\n').map_or(src.len(), |i| self.pos + i);
        }
    }

    fn statement(&mut self, line: usize) -> Result<(), DotenvError> {
        let src = self.src;
        let err = |message: String| DotenvError { line, message };

        let rest = &src[self.pos..];
        if let Some(after) = rest.strip_prefix("export") {
            let trimmed = after.trim_start_matches(is_blank);
            if trimmed.len() < after.len() {
                self.pos += rest.len() - trimmed.len();
            }
        }

        let rest = &src[self.pos..];
        let sep = rest.find(['=', ':', '\n']);
        let raw_key = sep.map_or(rest, |i| &rest[..i]);
        let key = raw_key.trim_end_matches(is_blank);
        let assigns = sep.is_some_and(|i| rest.as_bytes()[i] != b'\n');
        if !assigns {
            // A bare `KEY`: inherit-from-shell, nothing to record.
            self.pos += raw_key.len();
            if key.is_empty() {
                return Ok(());
            }
            return validate_key(key).map_err(err);
        }
        validate_key(key).map_err(err)?;
        self.pos += raw_key.len() + 1;
        let rest = &src[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches(is_blank).len();

        let value = match src.as_bytes().get(self.pos).copied() {
            Some(b'"') => {
                let body = self.pos + 1;
                let close = find_double_close(src.as_bytes(), body)
                    .ok_or_else(|| err(format!("unterminated double-quoted value for {key}")))?;
                self.pos = close + 1;
                expand(&unescape_double(&src[body..close]), &self.vars, key, line)?
            }
            Some(b'\'') => {
                let body = self.pos + 1;
                let close = find_single_close(src.as_bytes(), body)
                    .ok_or_else(|| err(format!("unterminated single-quoted value for {key}")))?;
                self.pos = close + 1;
                src[body..close].to_owned()
            }
            _ => {
                let rest = &src[self.pos..];
                let eol = rest.find('\n').unwrap_or(rest.len());
                let mut raw = &rest[..eol];
                if let Some(comment) = raw.find(" #") {
                    raw = &raw[..comment];
                }
                self.pos += eol;
                expand(raw.trim_end(), &self.vars, key, line)?
            }
        };
        self.record(key.to_owned(), value);
        Ok(())
    }

    fn record(&mut self, key: String, value: String) {
        self.vars.insert(key.clone(), value.clone());
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(slot) = self.out.get_mut(i) {
                    slot.1 = value;
                }
            }
            None => {
                self.index.insert(key.clone(), self.out.len());
                self.out.push((key, value));
            }
        }
    }
}

/// Blanks other than a line break, as compose-go's dotenv `isSpace`.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        Err("missing variable name before `=`".to_owned())
    } else if key.chars().any(char::is_whitespace) {
        Err("variable name cannot contain whitespace".to_owned())
    } else if !is_valid_name(key) {
        Err("invalid variable name: names must match [_A-Za-z][_A-Za-z0-9]*".to_owned())
    } else {
        Ok(())
    }
}

/// Index of the `"` closing a double-quoted body starting at `from`, where a
/// backslash always escapes the next byte.
fn find_double_close(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
}

/// Index of the `'` closing a single-quoted body starting at `from`; as in
/// compose-go, a quote right after a backslash does not close it.
fn find_single_close(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&i| bytes[i] == b'\'' && bytes[i - 1] != b'\\')
}

/// Process the escapes compose-go recognises in double-quoted values.
fn unescape_double(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut pos = 0;
    while let Some(rel) = body[pos..].find('\\') {
        let at = pos + rel;
        out.push_str(&body[pos..at]);
        pos = at + 2;
        match bytes.get(at + 1).copied() {
            Some(b'a') => out.push('\u{7}'),
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'v') => out.push('\u{b}'),
            Some(b'\\') => out.push('\\'),
            Some(b'"') => out.push('"'),
            // `$$` is interpolation's own escape, applied right after this.
            Some(b'$') => out.push_str("$$"),
            Some(b'0') => match octal_escape(bytes.get(at + 2..at + 5)) {
                Some(c) => {
                    out.push(c);
                    pos = at + 5;
                }
                None => {
                    out.push('\\');
                    pos = at + 1;
                }
            },
            _ => {
                // Unknown escape: keep the backslash, re-read what follows.
                out.push('\\');
                pos = at + 1;
            }
        }
    }
    out.push_str(&body[pos..]);
    out
}

/// Three octal digits up to `377`, as the char with that code point (Go's
/// `string(rune)` of the byte value).
fn octal_escape(digits: Option<&[u8]>) -> Option<char> {
    let digits = digits?;
    let mut value: u32 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        value = value * 8 + u32::from(d - b'0');
    }
    u8::try_from(value).ok().map(char::from)
}

/// Interpolate a `.env` value, turning failures into errors that name the
/// key and the variable but carry no text from the file.
fn expand(raw: &str, vars: &Vars, key: &str, line: usize) -> Result<String, DotenvError> {
    match interpolate(raw, vars) {
        Ok(done) => Ok(done.value),
        Err(InterpolateError::Required { name, .. }) => Err(DotenvError {
            line,
            message: format!("value of {key}: required variable {name} is missing a value"),
        }),
        Err(InterpolateError::Syntax { detail, .. }) => Err(DotenvError {
            line,
            message: format!("value of {key}: invalid interpolation format: {detail}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(
            pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())),
            Vec::new(),
        )
    }

    /// A = "a", EMPTY = "" and nothing else.
    fn std_vars() -> Vars {
        vars(&[("A", "a"), ("EMPTY", "")])
    }

    fn run(input: &str, v: &Vars) -> Interpolated {
        match interpolate(input, v) {
            Ok(done) => done,
            Err(e) => panic!("interpolating {input:?} failed: {e}"),
        }
    }

    fn val(input: &str) -> String {
        run(input, &std_vars()).value
    }

    fn fail(input: &str, v: &Vars) -> InterpolateError {
        match interpolate(input, v) {
            Ok(done) => panic!("interpolating {input:?} succeeded with {:?}", done.value),
            Err(e) => e,
        }
    }

    fn syntax_offset(input: &str) -> usize {
        match fail(input, &std_vars()) {
            InterpolateError::Syntax { offset, .. } => offset,
            other => panic!("expected a syntax error for {input:?}, got {other:?}"),
        }
    }

    fn dotenv(text: &str) -> Vec<(String, String)> {
        match parse_dotenv(text) {
            Ok(pairs) => pairs,
            Err(e) => panic!("parsing {text:?} failed: {e}"),
        }
    }

    fn dotenv_err(text: &str) -> DotenvError {
        match parse_dotenv(text) {
            Ok(pairs) => panic!("parsing {text:?} succeeded with {} pairs", pairs.len()),
            Err(e) => e,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn plain_forms() {
        assert_eq!(val("$A"), "a");
        assert_eq!(val("${A}"), "a");
        assert_eq!(val("x${A}y$A-z"), "xaya-z");
        assert_eq!(val("$A_B"), "", "the name is A_B, which is unset");
        assert_eq!(val("${EMPTY}|$EMPTY"), "|");
        let done = run("pre-$NOPE-${NOPE2}-$NOPE", &std_vars());
        assert_eq!(done.value, "pre---");
        assert!(done.changed);
        assert_eq!(done.unset, vec!["NOPE".to_owned(), "NOPE2".to_owned()]);
        assert!(run("$EMPTY", &std_vars()).unset.is_empty());
    }

    #[test]
    fn names_are_case_sensitive_and_may_hold_digits() {
        let v = vars(&[("a", "lower"), ("A1_", "mixed"), ("_", "under")]);
        assert_eq!(run("$a/${A1_}/$_/$A", &v).value, "lower/mixed/under/");
    }

    #[test]
    fn default_operators() {
        assert_eq!(val("${A:-d}"), "a");
        assert_eq!(val("${EMPTY:-d}"), "d");
        assert_eq!(val("${UNSET:-d}"), "d");
        assert_eq!(val("${A-d}"), "a");
        assert_eq!(val("${EMPTY-d}"), "");
        assert_eq!(val("${UNSET-d}"), "d");
        assert_eq!(val("${UNSET:-}"), "");
        assert_eq!(val("${UNSET-}"), "");
        let done = run("${UNSET:-d}", &std_vars());
        assert!(
            done.unset.is_empty(),
            "a defaulted variable is not reported"
        );
        assert!(done.changed);
    }

    #[test]
    fn default_may_contain_operator_characters() {
        assert_eq!(val("${UNSET:-a-b:c?d+e}"), "a-b:c?d+e");
        assert_eq!(val("${UNSET-:-x}"), ":-x");
        assert_eq!(val("${UNSET:-http://h:80/p}"), "http://h:80/p");
        assert_eq!(val("${UNSET:- spaced out }"), " spaced out ");
    }

    #[test]
    fn alternate_operators() {
        assert_eq!(val("${A:+r}"), "r");
        assert_eq!(val("${EMPTY:+r}"), "");
        assert_eq!(val("${UNSET:+r}"), "");
        assert_eq!(val("${A+r}"), "r");
        assert_eq!(val("${EMPTY+r}"), "r");
        assert_eq!(val("${UNSET+r}"), "");
        assert!(run("${UNSET+r}", &std_vars()).unset.is_empty());
    }

    #[test]
    fn required_operators() {
        assert_eq!(val("${A:?boom}"), "a");
        assert_eq!(val("${A?boom}"), "a");
        assert_eq!(val("${EMPTY?boom}"), "");
        for input in ["${EMPTY:?need it}", "${UNSET:?need it}", "${UNSET?need it}"] {
            let e = fail(input, &std_vars());
            let name = if input.contains("EMPTY") {
                "EMPTY"
            } else {
                "UNSET"
            };
            assert_eq!(
                e,
                InterpolateError::Required {
                    name: name.to_owned(),
                    message: "need it".to_owned(),
                    offset: 0,
                }
            );
            assert_eq!(
                e.to_string(),
                format!("required variable {name} is missing a value: need it")
            );
        }
    }

    #[test]
    fn required_error_details() {
        match fail("héllo ${X:?}", &std_vars()) {
            InterpolateError::Required {
                name,
                message,
                offset,
            } => {
                assert_eq!(name, "X");
                assert_eq!(message, "");
                assert_eq!(offset, 6, "offset counts chars, not bytes");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The message is reported as written, including nested syntax.
        match fail("${X:?set ${A} or {see docs}}", &std_vars()) {
            InterpolateError::Required { message, .. } => {
                assert_eq!(message, "set ${A} or {see docs}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // ...but it is still checked for syntax.
        assert_eq!(syntax_offset("${X:?bad ${}}"), 9);
    }

    #[test]
    fn nesting() {
        assert_eq!(val("${UNSET:-${A}}"), "a");
        assert_eq!(val("${UNSET:-${UNSET2:-x}}"), "x");
        assert_eq!(val("${UNSET:-${EMPTY:-${A:+deep}}}"), "deep");
        assert_eq!(val("${A:+<${A}>}"), "<a>");
        assert_eq!(val("${UNSET:-$A/$A}"), "a/a");
        assert_eq!(val("${UNSET:-${A}x}y}"), "axy}");
        assert_eq!(val("pre ${UNSET:-${A:-b}} post"), "pre a post");
    }

    #[test]
    fn nested_operands_are_evaluated_eagerly() {
        // compose-go interpolates the default before looking at A.
        let done = run("${A:-${NOPE}}", &std_vars());
        assert_eq!(done.value, "a");
        assert_eq!(done.unset, vec!["NOPE".to_owned()]);
        assert!(matches!(
            fail("${A:-${NOPE:?inner}}", &std_vars()),
            InterpolateError::Required { name, offset: 5, .. } if name == "NOPE"
        ));
        // Inside a `?` message nothing is evaluated.
        let e = fail("${X:?${NOPE:?inner}}", &std_vars());
        assert!(matches!(e, InterpolateError::Required { name, .. } if name == "X"));
        assert_eq!(val("${A:?${NOPE}}"), "a");
        assert!(run("${A:?${NOPE}}", &std_vars()).unset.is_empty());
    }

    #[test]
    fn literal_braces_in_operands() {
        assert_eq!(val("${UNSET:-{x}}"), "{x}");
        assert_eq!(val("${UNSET:-{}}"), "{}");
        assert_eq!(val("${UNSET:-{a{b}c}}"), "{a{b}c}");
        assert_eq!(val("${A}}"), "a}");
        assert_eq!(val("{${A}}"), "{a}");
        assert_eq!(val("{}{"), "{}{");
        assert_eq!(syntax_offset("${UNSET:-{x}"), 0);
    }

    #[test]
    fn dollar_escapes() {
        let done = run("$$", &std_vars());
        assert_eq!(done.value, "$");
        assert!(done.changed);
        assert_eq!(val("$$A"), "$A");
        assert!(run("$$A", &std_vars()).unset.is_empty());
        assert_eq!(val("$${A}"), "${A}");
        assert_eq!(val("$$$A"), "$a");
        assert_eq!(val("$$$$"), "$$");
        assert_eq!(val("${UNSET:-$$}"), "$");
        assert_eq!(val("${UNSET:-$${A}}"), "${A}");
        assert_eq!(val("cost: 5$$"), "cost: 5$");
    }

    #[test]
    fn lone_dollar_is_literal() {
        for input in ["$", "a$", "$ x", "$1", "$-", "$.", "$}", "5$ é$€"] {
            let done = run(input, &std_vars());
            assert_eq!(done.value, input);
            assert!(!done.changed, "{input:?} has no expression");
        }
        assert_eq!(val("${UNSET:-$}"), "$");
        assert_eq!(val("$1$A"), "$1a");
    }

    #[test]
    fn malformed_expressions() {
        assert_eq!(syntax_offset("${"), 0);
        assert_eq!(syntax_offset("${}"), 0);
        assert_eq!(syntax_offset("${1A}"), 0);
        assert_eq!(syntax_offset("${-}"), 0);
        assert_eq!(syntax_offset("${A"), 0);
        assert_eq!(syntax_offset("${A B}"), 0);
        assert_eq!(syntax_offset("${A }"), 0);
        assert_eq!(syntax_offset("${A:x}"), 0);
        assert_eq!(syntax_offset("${A:}"), 0);
        assert_eq!(syntax_offset("${A:"), 0);
        assert_eq!(syntax_offset("${A.B}"), 0);
        assert_eq!(syntax_offset("${A[0]}"), 0);
        assert_eq!(syntax_offset("${A:-x"), 0);
        assert_eq!(syntax_offset("ok ${A} then ${"), 13);
        // Unclosed nesting: the outer expression is the unterminated one.
        assert_eq!(syntax_offset("${A:-${B:-x}"), 0);
        // An inner error points at the inner expression.
        assert_eq!(syntax_offset("${A:-${B"), 5);
        assert_eq!(syntax_offset("${A:-${}}"), 5);
        assert_eq!(syntax_offset("日本語 ${1}"), 4);
    }

    #[test]
    fn syntax_error_display() {
        let e = fail("ab${", &std_vars());
        let text = e.to_string();
        assert!(
            text.starts_with("invalid interpolation format at offset 2: "),
            "{text}"
        );
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let nested = |levels: usize| {
            let mut s = String::new();
            for _ in 0..levels {
                s.push_str("${U:-");
            }
            s.push('x');
            for _ in 0..levels {
                s.push('}');
            }
            s
        };
        assert_eq!(val(&nested(MAX_DEPTH)), "x");
        let e = fail(&nested(MAX_DEPTH + 1), &std_vars());
        assert!(
            matches!(e, InterpolateError::Syntax { offset, .. } if offset == MAX_DEPTH * 5),
            "{e:?}"
        );
        // Hostile input fails fast instead of overflowing the stack.
        assert!(interpolate(&nested(100_000), &std_vars()).is_err());
        // Literal braces are counted, not recursed into.
        let braces = format!("${{U:-{}{}}}", "{".repeat(50_000), "}".repeat(50_000));
        assert_eq!(val(&braces).len(), 100_000);
    }

    #[test]
    fn unicode_around_expressions() {
        let v = vars(&[("NAME", "wörld ✓")]);
        assert_eq!(run("héllo ${NAME}!", &v).value, "héllo wörld ✓!");
        assert_eq!(run("日本$NAME語", &v).value, "日本wörld ✓語");
        assert_eq!(run("${NOPE:-ünï}—${NAME:+€}", &v).value, "ünï—€");
        assert_eq!(run("🦀$$🦀", &v).value, "🦀$🦀");
        assert_eq!(run("$é", &v).value, "$é");
    }

    #[test]
    fn fast_path() {
        for input in ["", "plain", "with {braces} and ünïcode", "100%"] {
            let done = run(input, &std_vars());
            assert_eq!(done.value, input);
            assert!(!done.changed);
            assert!(done.unset.is_empty());
            assert_eq!(done.unset.capacity(), 0, "fast path allocates no list");
        }
    }

    #[test]
    fn changed_flag() {
        assert!(run("$A", &std_vars()).changed);
        assert!(run("${UNSET+x}", &std_vars()).changed);
        assert!(run("$$", &std_vars()).changed);
        assert!(!run("a $ b", &std_vars()).changed);
    }

    #[test]
    fn unset_names_are_deduplicated_in_order() {
        let done = run("$B ${A_} $B ${C} $A_", &std_vars());
        assert_eq!(done.unset, vec!["B", "A_", "C"]);
    }

    #[test]
    fn process_env_wins_over_dotenv() {
        let v = Vars::new(
            vec![("SHARED".to_owned(), "shell".to_owned())],
            pairs(&[
                ("SHARED", "file"),
                ("ONLY_FILE", "f"),
                ("DUP", "1"),
                ("DUP", "2"),
            ]),
        );
        assert_eq!(v.get("SHARED"), Some("shell"));
        assert_eq!(v.get("ONLY_FILE"), Some("f"));
        assert_eq!(v.get("DUP"), Some("2"));
        assert_eq!(v.get("MISSING"), None);
    }

    #[test]
    fn vars_debug_lists_names_only() {
        let v = vars(&[("TOKEN", "s3cr3t-value"), ("B", "other-value")]);
        let shown = format!("{v:?}");
        assert!(shown.contains("TOKEN") && shown.contains('B'), "{shown}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("other-value"));
    }

    #[test]
    fn interpolation_errors_never_contain_values() {
        const SECRET: &str = "hunter2-s3cr3t";
        let v = vars(&[("PASSWORD", SECRET), ("EMPTY", "")]);
        let inputs = [
            "${EMPTY:?${PASSWORD}}",
            "${EMPTY:?$PASSWORD}",
            "${NOPE?${PASSWORD:+x}}",
            "$PASSWORD ${",
            "${PASSWORD} ${}",
            "${PASSWORD:-${1}}",
            "${EMPTY:-${PASSWORD}${NOPE:?why}}",
        ];
        for input in inputs {
            let e = fail(input, &v);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(SECRET), "{input:?} leaked: {shown}");
        }
    }

    #[test]
    fn dotenv_basics() {
        let text = "\
# a comment
   # an indented comment

A=1
B = two
export C=3
export\tD=4
E=
F=  spaced value   
G=a=b
H: yaml style
";
        assert_eq!(
            dotenv(text),
            pairs(&[
                ("A", "1"),
                ("B", "two"),
                ("C", "3"),
                ("D", "4"),
                ("E", ""),
                ("F", "spaced value"),
                ("G", "a=b"),
                ("H", "yaml style"),
            ])
        );
        assert!(dotenv("").is_empty());
        assert!(dotenv("\n\n  \n# only\n").is_empty());
        assert_eq!(dotenv("LAST=x"), pairs(&[("LAST", "x")]));
        assert_eq!(
            dotenv("\u{feff}BOM=1\r\nCRLF=2\r\n"),
            pairs(&[("BOM", "1"), ("CRLF", "2")])
        );
    }

    #[test]
    fn dotenv_export_edge_cases() {
        assert_eq!(dotenv("exported=1"), pairs(&[("exported", "1")]));
        assert_eq!(dotenv("export=1"), pairs(&[("export", "1")]));
        assert!(dotenv("export\n").is_empty());
        assert!(dotenv("export FOO\n").is_empty());
    }

    #[test]
    fn dotenv_bare_key_is_ignored() {
        assert_eq!(dotenv("INHERIT\nA=1\nALSO_BARE"), pairs(&[("A", "1")]));
        assert_eq!(dotenv_err("A=1\nbad-name\n").line, 2);
    }

    #[test]
    fn dotenv_inline_comments() {
        let text = "\
A=value # comment
B=value#not-a-comment
C=#starts-with-hash
D=  #after-blanks
E=x\t#tab-is-not-a-comment-start
F=\"quoted # kept\" # dropped
G='single # kept'   #dropped
";
        assert_eq!(
            dotenv(text),
            pairs(&[
                ("A", "value"),
                ("B", "value#not-a-comment"),
                ("C", "#starts-with-hash"),
                ("D", "#after-blanks"),
                ("E", "x\t#tab-is-not-a-comment-start"),
                ("F", "quoted # kept"),
                ("G", "single # kept"),
            ])
        );
    }

    #[test]
    fn dotenv_single_quotes_are_literal() {
        let text = r#"A='${X} $$ \n "q"'
B='it\'s'
C=''
"#;
        assert_eq!(
            dotenv(text),
            pairs(&[("A", r#"${X} $$ \n "q""#), ("B", r"it\'s"), ("C", "")])
        );
        assert_eq!(dotenv("X=1\nA='$X'"), pairs(&[("X", "1"), ("A", "$X")]));
    }

    #[test]
    fn dotenv_double_quote_escapes() {
        let text = r#"A="line1\nline2\ttab\\back\"quote"
B="\a\b\f\v\r"
C="\$X and $$Y"
D="\0101\0777\q\'"
E="ends with backslash\\"
F=""
"#;
        assert_eq!(
            dotenv(text),
            pairs(&[
                ("A", "line1\nline2\ttab\\back\"quote"),
                ("B", "\u{7}\u{8}\u{c}\u{b}\r"),
                ("C", "$X and $Y"),
                ("D", r"A\0777\q\'"),
                ("E", "ends with backslash\\"),
                ("F", ""),
            ])
        );
    }

    #[test]
    fn dotenv_multiline_double_quotes() {
        let text = "KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT=after\n";
        assert_eq!(
            dotenv(text),
            pairs(&[
                ("KEY", "-----BEGIN-----\nabc\n-----END-----"),
                ("NEXT", "after")
            ])
        );
        // Line numbers keep counting through the multi-line value.
        assert_eq!(dotenv_err("A=\"x\ny\nz\"\nB=ok\n!bad=1\n").line, 5);
    }

    #[test]
    fn dotenv_text_after_closing_quote_starts_a_statement() {
        assert_eq!(
            dotenv("A=\"x\" B=y\nC='z'D=w"),
            pairs(&[("A", "x"), ("B", "y"), ("C", "z"), ("D", "w")])
        );
        assert_eq!(dotenv("A=\"x\"trailing\n"), pairs(&[("A", "x")]));
    }

    #[test]
    fn dotenv_interpolates_earlier_entries() {
        let text = "\
HOST=db
PORT=5432
URL=postgres://${HOST}:$PORT/${NAME:-app}
QUOTED=\"$HOST-${PORT:+p}\"
LITERAL='$HOST'
ESCAPED=$$HOST
LATER=$AFTER
AFTER=1
";
        assert_eq!(
            dotenv(text),
            pairs(&[
                ("HOST", "db"),
                ("PORT", "5432"),
                ("URL", "postgres://db:5432/app"),
                ("QUOTED", "db-p"),
                ("LITERAL", "$HOST"),
                ("ESCAPED", "$HOST"),
                ("LATER", ""),
                ("AFTER", "1"),
            ])
        );
    }

    #[test]
    fn dotenv_duplicates_keep_first_position_last_value() {
        assert_eq!(
            dotenv("A=1\nB=2\nA=3\nC=$A"),
            pairs(&[("A", "3"), ("B", "2"), ("C", "3")])
        );
    }

    #[test]
    fn dotenv_malformed_lines_report_line_numbers() {
        let cases: &[(&str, usize)] = &[
            ("=novalue", 1),
            ("A=1\n\n1BAD=x", 3),
            ("OK=1\nHAS SPACE=1", 2),
            ("# c\nBAD-DASH=1", 2),
            ("A.B=1", 1),
            ("\"Q\"=1", 1),
            ("A=1\nB=\"unterminated\nC=2\n", 2),
            ("A='unterminated", 1),
            ("A=1\nB=${", 2),
            ("A=1\n\nB=\"${1}\"", 3),
            ("A=${NOPE:?must be set}", 1),
            ("export 9=1", 1),
            ("ünï=1", 1),
        ];
        for &(text, line) in cases {
            let e = dotenv_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")));
        }
        let e = dotenv_err("A=${NOPE:?must be set}");
        assert_eq!(
            e.message,
            "value of A: required variable NOPE is missing a value"
        );
    }

    #[test]
    fn dotenv_errors_never_contain_values() {
        const SECRET: &str = "hunter2-s3cr3t";
        let cases = [
            format!("PASSWORD=\"{SECRET}"),
            format!("PASSWORD='{SECRET}"),
            format!("PASSWORD={SECRET}\nX=${{PASSWORD:+${{NOPE:?{SECRET}}}}}"),
            format!("PASSWORD={SECRET}\nX=\"${{NOPE:?$PASSWORD}}\""),
            format!("PASSWORD={SECRET}${{"),
            format!("PASSWORD=${{ {SECRET}}}"),
            SECRET.to_owned(),
            format!("{SECRET}!=1"),
            format!("MY {SECRET}=1"),
        ];
        for text in &cases {
            let e = dotenv_err(text);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(SECRET), "{text:?} leaked: {shown}");
            assert!(!shown.contains("hunter2"), "{text:?} leaked: {shown}");
        }
    }
}
