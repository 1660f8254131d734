//! Text-level editing of YAML at the positions the span-preserving loader reports.
//!
//! `inject` never re-serializes a document: it inserts (or, rarely, replaces) whole lines at
//! exact positions, so comments, key order, quoting and blank lines of the input survive
//! byte for byte. The loader gives the start of every node; the end of a block collection
//! is found here from indentation (YAML's own rule for block structure): the collection
//! ends before the first later content line indented less than it (or, for a sequence,
//! indented the same without a `- ` item marker), or at a document marker.

use std::fmt::Write as _;

use crate::audit::yaml::{Kind, Node};

/// The source text with a line index.
pub struct Text<'t> {
    pub src: &'t str,
    starts: Vec<usize>,
}

/// One pending edit: replace `start..end` with `text` (an insertion when empty).
#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
    /// 0 for content that belongs to the line before the position (the items of a
    /// `key: []` just emptied), 1 for appends to blocks ending there: those blocks are the
    /// key's ancestors, so their additions come after.
    prio: u8,
    seq: usize,
}

/// The edits of one file, applied at once so that positions stay those of the input.
#[derive(Default)]
pub struct Edits {
    list: Vec<Edit>,
}

impl<'t> Text<'t> {
    pub fn new(src: &'t str) -> Text<'t> {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1));
        Text { src, starts }
    }

    pub fn line_count(&self) -> u32 {
        let n = self.starts.len() as u32;
        // A final newline opens an empty "line" that has no content.
        if self.src.ends_with('\n') {
            n - 1
        } else {
            n
        }
    }

    /// Line `n` (1-based) without its line break.
    pub fn line(&self, n: u32) -> &'t str {
        let Some(&s) = self.starts.get(n as usize - 1) else {
            return "";
        };
        let e = self
            .starts
            .get(n as usize)
            .copied()
            .unwrap_or(self.src.len());
        self.src[s..e].trim_end_matches(['\n', '\r'])
    }

    /// Byte offset of the start of line `n`; the end of the text past the last line.
    pub fn line_start(&self, n: u32) -> usize {
        self.starts
            .get(n as usize - 1)
            .copied()
            .unwrap_or(self.src.len())
    }

    /// Byte offset of a node's first character (the loader's columns count characters).
    pub fn offset(&self, node: &Node) -> usize {
        let start = self.line_start(node.loc.line);
        let line = self.line(node.loc.line);
        let skip = node.loc.col.saturating_sub(1) as usize;
        start + line.char_indices().nth(skip).map_or(line.len(), |(i, _)| i)
    }

    /// The first character of a node as written: `{` or `[` for flow collections.
    pub fn first_char(&self, node: &Node) -> Option<char> {
        self.src[self.offset(node)..].chars().next()
    }

    /// When a node is written with an anchor or tag (`&name`, `!tag`), the loader places
    /// it there; the character after those properties on the same line (`None` when the
    /// content starts on the next line). `None` inside `Some` distinguishes "properties,
    /// then a line break" from "no properties" (the outer `None`).
    fn after_props(&self, node: &Node) -> Option<Option<char>> {
        let off = self.offset(node);
        let line_end = self.src[off..]
            .find('\n')
            .map_or(self.src.len(), |i| off + i);
        let mut rest = self.src[off..line_end].trim_end_matches('\r');
        if !rest.starts_with(['&', '!']) {
            return None;
        }
        while rest.starts_with(['&', '!']) {
            let end = rest.find(' ').unwrap_or(rest.len());
            rest = rest[end..].trim_start_matches(' ');
        }
        Some(rest.chars().next().filter(|c| *c != '#'))
    }

    /// Where the content of a block collection starts: the loader's position, or past an
    /// anchor or tag, the first key (or item) written after it. Merged entries (positions
    /// of their anchor, earlier in the text) are left out.
    fn start(&self, node: &Node) -> (u32, u32) {
        let here = (node.loc.line, node.loc.col);
        if self.after_props(node).is_none() {
            return here;
        }
        let first = match &node.kind {
            Kind::Map(entries) => entries
                .iter()
                .map(|e| (e.key.loc.line, e.key.loc.col))
                .filter(|p| *p > here)
                .min(),
            Kind::Seq(items) => items.first().map(|i| (i.loc.line, i.loc.col)),
            Kind::Scalar(_) => None,
        };
        first.unwrap_or(here)
    }

    /// True for a mapping or sequence written in block style (what inject can edit). The
    /// loader places a block mapping at its first key and a flow mapping at its `{`. A
    /// block sequence sits at its first `-` (or, when it is not indented under its key, at
    /// its first item), a flow sequence at its `[` before the first item. (A mapping's
    /// entries cannot be compared by position: merge keys reorder them and merged entries
    /// keep the position of their anchor.) Anchors and tags are looked past.
    pub fn is_block(&self, node: &Node) -> bool {
        if let Some(next) = self.after_props(node) {
            return match &node.kind {
                Kind::Map(_) => !matches!(next, Some('{' | '[')),
                Kind::Seq(items) => {
                    !matches!(next, Some('{' | '['))
                        && !items.is_empty()
                        && self.seq_marker(node).is_some()
                }
                Kind::Scalar(_) => false,
            };
        }
        match &node.kind {
            Kind::Map(_) => !matches!(self.first_char(node), Some('{') | None),
            Kind::Seq(_) => self.seq_marker(node).is_some(),
            Kind::Scalar(_) => false,
        }
    }

    /// True when the entries of the block mapping `node` are separated by blank lines (then
    /// new entries get one too, to match).
    pub fn blank_separated(&self, node: &Node) -> bool {
        node.as_map().is_some_and(|entries| {
            entries.iter().skip(1).any(|e| {
                let l = e.key.loc.line;
                l > self.start(node).0
                    && l <= self.block_end(node)
                    && self.line(l - 1).trim().is_empty()
            })
        })
    }

    /// For an empty flow collection (`[]` or `{}`) followed on its line by nothing but a
    /// comment: the byte range to delete (with the blank before it), so that block content
    /// can be inserted after the line instead. `None` for anything else.
    pub fn empty_flow(&self, node: &Node) -> Option<(usize, usize)> {
        let empty = match &node.kind {
            Kind::Map(m) => m.is_empty(),
            Kind::Seq(items) => items.is_empty(),
            Kind::Scalar(_) => false,
        };
        if !empty || self.after_props(node).is_some() {
            return None;
        }
        let off = self.offset(node);
        let rest = &self.src[off..];
        if !(rest.starts_with("[]") || rest.starts_with("{}")) {
            return None;
        }
        let after = rest[2..].split('\n').next().unwrap_or("").trim();
        if !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        let start = if self.src[..off].ends_with(' ') {
            off - 1
        } else {
            off
        };
        Some((start, off + 2))
    }

    /// The 0-based column of a block sequence's `-` markers; `None` for a flow sequence.
    fn seq_marker(&self, node: &Node) -> Option<usize> {
        let (l, c) = self.start(node);
        let col = c.saturating_sub(1) as usize;
        let line = self.line(l);
        let mut chars = line.chars().skip(col);
        if chars.next() == Some('-') && chars.next().is_none_or(|c| c == ' ') {
            return Some(col);
        }
        let first = node.as_seq()?.first()?;
        if (first.loc.line, first.loc.col) != (l, c) {
            return None;
        }
        let prefix: Vec<char> = line.chars().take(col).collect();
        let dash = prefix.iter().rposition(|c| *c != ' ')?;
        (prefix[dash] == '-').then_some(dash)
    }

    /// The 0-based column (in characters) where a block collection is indented: its keys,
    /// or its `-` markers.
    pub fn indent_of(&self, node: &Node) -> usize {
        match node.kind {
            Kind::Seq(_) => self
                .seq_marker(node)
                .unwrap_or(self.start(node).1.saturating_sub(1) as usize),
            _ => self.start(node).1.saturating_sub(1) as usize,
        }
    }

    /// The last content line of the block collection `node`.
    pub fn block_end(&self, node: &Node) -> u32 {
        let indent = self.indent_of(node);
        let seq = matches!(node.kind, Kind::Seq(_));
        let first = self.start(node).0;
        let mut last = first;
        for n in first + 1..=self.line_count() {
            let line = self.line(n);
            let t = line.trim_start_matches(' ');
            if t.trim().is_empty() {
                continue;
            }
            if line.starts_with("---") || line.starts_with("...") {
                break;
            }
            let ind = line.len() - t.len();
            if t.starts_with('#') {
                // A comment-looking line deeper than the block may be block-scalar content;
                // counting it as content keeps insertions out of a literal scalar.
                if ind > indent {
                    last = n;
                }
                continue;
            }
            let item = t == "-" || t.starts_with("- ");
            if ind < indent || (seq && ind == indent && !item) {
                break;
            }
            last = n;
        }
        last
    }
}

impl Edits {
    /// Inserts `text` (whole lines) after line `line`.
    pub fn after_line(&mut self, t: &Text<'_>, line: u32, text: String) {
        let at = if line >= t.line_count() {
            t.src.len()
        } else {
            t.line_start(line + 1)
        };
        self.insert(at, text);
    }

    /// Inserts `text` (whole lines) directly after line `line`, before anything appended to
    /// blocks that end on that line.
    pub fn into_line(&mut self, t: &Text<'_>, line: u32, text: String) {
        let before = self.list.len();
        self.after_line(t, line, text);
        if let Some(e) = self.list.get_mut(before) {
            e.prio = 0;
        }
    }

    /// Inserts `text` (whole lines) before line `line`.
    pub fn before_line(&mut self, t: &Text<'_>, line: u32, text: String) {
        self.insert(t.line_start(line), text);
    }

    pub fn insert(&mut self, at: usize, text: String) {
        self.replace(at, at, text);
    }

    pub fn replace(&mut self, start: usize, end: usize, text: String) {
        let seq = self.list.len();
        self.list.push(Edit {
            start,
            end,
            text,
            prio: 1,
            seq,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The edited text. Insertions at the same position keep the order they were made in;
    /// inserted lines follow the input's line endings (CRLF when the input uses them).
    pub fn apply(mut self, src: &str) -> String {
        self.list.sort_by_key(|e| (e.start, e.prio, e.seq));
        if src.contains("\r\n") {
            for e in &mut self.list {
                e.text = e.text.replace("\r\n", "\n").replace('\n', "\r\n");
            }
        }
        let mut out = String::with_capacity(src.len() + 1024);
        let mut pos = 0;
        let mut eof_newline = src.is_empty() || src.ends_with('\n');
        for e in self.list {
            if e.start < pos {
                // Overlapping edits are a bug of the caller; keep the input intact there.
                continue;
            }
            out.push_str(&src[pos..e.start]);
            if e.start == src.len() && !eof_newline && !e.text.is_empty() {
                // Lines appended to an input without a final newline start on a new line.
                out.push_str(if src.contains("\r\n") { "\r\n" } else { "\n" });
                eof_newline = true;
            }
            out.push_str(&e.text);
            pos = e.end;
        }
        out.push_str(&src[pos..]);
        out
    }
}

/// A value inject writes, emitted in block style with two-space indentation.
#[derive(Debug, Clone)]
pub enum Y {
    /// A scalar, quoted when YAML would read it as anything but this string.
    Str(String),
    /// Text written as is (numbers, booleans, flow sequences).
    Raw(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
}

pub fn s(v: impl Into<String>) -> Y {
    Y::Str(v.into())
}

pub fn raw(v: impl Into<String>) -> Y {
    Y::Raw(v.into())
}

pub fn map(entries: Vec<(&str, Y)>) -> Y {
    Y::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A flow sequence of quoted strings: `["fetch", "--config", "/etc/..."]`.
pub fn flow_strs(items: &[&str]) -> Y {
    let parts: Vec<String> = items.iter().map(|i| dquote(i)).collect();
    Y::Raw(format!("[{}]", parts.join(", ")))
}

pub fn dquote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("\"{v}\""))
}

/// A scalar as YAML text: plain when unambiguous, double-quoted otherwise.
pub fn scalar(v: &str) -> String {
    let plain_ok = !v.is_empty()
        && v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-:@".contains(c))
        && !v.starts_with(['-', ':', '@', '.'])
        && !v.ends_with(':')
        && v.parse::<f64>().is_err()
        // Digits and colons read as a YAML 1.1 base-60 number (`65532:65532`).
        && !v.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
        );
    if plain_ok {
        v.to_string()
    } else {
        dquote(v)
    }
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

/// Mapping entries at indentation `indent`.
pub fn emit_entries(out: &mut String, indent: usize, entries: &[(String, Y)]) {
    for (k, v) in entries {
        emit_entry(out, indent, k, v);
    }
}

pub fn emit_entry(out: &mut String, indent: usize, k: &str, v: &Y) {
    let p = pad(indent);
    let key = scalar(k);
    match v {
        Y::Str(x) => {
            let _ = writeln!(out, "{p}{key}: {}", scalar(x));
        }
        Y::Raw(x) => {
            let _ = writeln!(out, "{p}{key}: {x}");
        }
        Y::Map(m) if m.is_empty() => {
            let _ = writeln!(out, "{p}{key}: {{}}");
        }
        Y::Seq(items) if items.is_empty() => {
            let _ = writeln!(out, "{p}{key}: []");
        }
        Y::Map(m) => {
            let _ = writeln!(out, "{p}{key}:");
            emit_entries(out, indent + 2, m);
        }
        Y::Seq(items) => {
            let _ = writeln!(out, "{p}{key}:");
            for item in items {
                emit_item(out, indent + 2, item);
            }
        }
    }
}

/// One sequence item whose `-` is at indentation `indent`.
pub fn emit_item(out: &mut String, indent: usize, item: &Y) {
    let p = pad(indent);
    match item {
        Y::Str(x) => {
            let _ = writeln!(out, "{p}- {}", scalar(x));
        }
        Y::Raw(x) => {
            let _ = writeln!(out, "{p}- {x}");
        }
        Y::Map(m) if !m.is_empty() => {
            let mut body = String::new();
            emit_entries(&mut body, indent + 2, m);
            // The first entry goes on the `- ` line.
            out.push_str(&p);
            out.push_str("- ");
            out.push_str(&body[indent + 2..]);
        }
        Y::Map(_) => {
            let _ = writeln!(out, "{p}- {{}}");
        }
        Y::Seq(_) => {
            let mut body = String::new();
            emit_item(&mut body, indent + 2, item);
            out.push_str(&p);
            out.push_str("- ");
            out.push_str(body.trim_start());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::yaml::{load, Limits};

    #[test]
    fn block_ends_and_offsets() {
        let src =
            "a:\n  b:\n  - x: 1\n    y: |\n      # not a comment\n  # trailing\n  c: 2\nd: 3\n";
        let docs = load(src, 0, Limits::default()).unwrap();
        let t = Text::new(src);
        let a = docs[0].root.get("a").unwrap();
        assert_eq!(t.block_end(a), 7);
        let b = a.get("b").unwrap();
        assert!(t.is_block(b));
        assert_eq!(t.block_end(b), 5);
        assert_eq!(t.indent_of(b), 2);
        let item = &b.as_seq().unwrap()[0];
        assert_eq!(t.block_end(item), 5);
        assert_eq!(t.block_end(&docs[0].root), 8);
    }

    #[test]
    fn flow_is_detected() {
        for (src, block) in [
            ("a:\n  - db\n", true),
            ("a:\n- db\n", true),
            ("a:\n  - [x]\n", true),
            ("a:\n- [x]\n", true),
            ("a:\n  -\n    k: v\n", true),
            ("a: [x]\n", false),
            ("a: []\n", false),
        ] {
            let docs = load(src, 0, Limits::default()).unwrap();
            let t = Text::new(src);
            assert_eq!(t.is_block(docs[0].root.get("a").unwrap()), block, "{src:?}");
        }
        let src = "a: {b: 1}\nc: [1]\n";
        let docs = load(src, 0, Limits::default()).unwrap();
        let t = Text::new(src);
        assert!(!t.is_block(docs[0].root.get("a").unwrap()));
        assert!(!t.is_block(docs[0].root.get("c").unwrap()));
        assert!(t.is_block(&docs[0].root));
    }

    #[test]
    fn edits_keep_order_and_handle_missing_final_newline() {
        let src = "a: 1";
        let t = Text::new(src);
        let mut e = Edits::default();
        e.after_line(&t, 1, "b: 2\n".into());
        e.after_line(&t, 1, "c: 3\n".into());
        assert_eq!(e.apply(src), "a: 1\nb: 2\nc: 3\n");
    }

    #[test]
    fn anchors_and_tags_are_looked_past() {
        let src =
            "a: &x\n  b: 1\n  c:\n  - 1\nd: !t\n  - k: v\n    l: w\ne: &y [1]\nf: &z {g: 1}\n";
        let docs = load(src, 0, Limits::default()).unwrap();
        let t = Text::new(src);
        let r = &docs[0].root;
        let a = r.get("a").unwrap();
        assert!(t.is_block(a));
        assert_eq!((t.indent_of(a), t.block_end(a)), (2, 4));
        let d = r.get("d").unwrap();
        assert!(t.is_block(d));
        assert_eq!((t.indent_of(d), t.block_end(d)), (2, 7));
        assert!(!t.is_block(r.get("e").unwrap()));
        assert!(!t.is_block(r.get("f").unwrap()));
    }

    #[test]
    fn crlf_input_gets_crlf_lines() {
        let src = "a:\r\n  b: 1\r\nc: 2\r\n";
        let docs = load(src, 0, Limits::default()).unwrap();
        let t = Text::new(src);
        let a = docs[0].root.get("a").unwrap();
        let mut e = Edits::default();
        e.after_line(&t, t.block_end(a), "  x: 1\n".into());
        assert_eq!(e.apply(src), "a:\r\n  b: 1\r\n  x: 1\r\nc: 2\r\n");
    }

    #[test]
    fn emitter() {
        let mut out = String::new();
        emit_item(
            &mut out,
            2,
            &map(vec![
                ("name", s("x")),
                ("args", flow_strs(&["fetch"])),
                ("sc", map(vec![("drop", Y::Seq(vec![s("ALL")]))])),
            ]),
        );
        assert_eq!(
            out,
            "  - name: x\n    args: [\"fetch\"]\n    sc:\n      drop:\n        - ALL\n"
        );
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("/run/x"), "/run/x");
        assert_eq!(scalar("65532:65532"), "\"65532:65532\"");
        assert_eq!(scalar("ghcr.io/a/b:1@sha256:00"), "ghcr.io/a/b:1@sha256:00");
    }
}
