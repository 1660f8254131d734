//! The span-preserving YAML (and JSON) loader every audited file goes through.
//!
//! Built directly on `saphyr-parser` events so that every node, keys included, keeps the
//! line and column it was written at. What this loader adds on top of the parser, and why:
//!
//! - **Aliases** are expanded by cloning the anchored subtree, but against a node *budget*
//!   (`Limits::alias_nodes`): a billion-laughs file stops with a located error after a bounded
//!   amount of work and memory instead of exhausting the machine.
//! - **Merge keys** (`<<`) are applied with Compose's semantics, because Compose files rely on
//!   them and no YAML 1.2 parser applies them: explicit keys win over merged ones; with a list
//!   of merge sources the earlier source wins; merging is shallow. Merged entries keep the
//!   location of the anchor they came from, so findings point at the line that set the value.
//! - **Duplicate keys** are an error (Compose and Kubernetes would silently take one of them,
//!   which hides mistakes and lets a reviewer see a different value than the runtime).
//! - **Depth** is capped (`Limits::max_depth`): the parser itself is iterative, but rules and
//!   reporters should never see absurd nesting.
//!
//! Scalars stay text; typed readings (booleans, integers, null) are accessor methods, because
//! Compose and Kubernetes decode leniently (`yes`/`on`/`True` count as true in the fields
//! that are booleans) while YAML 1.2's core schema would not.

use std::collections::HashMap;

use compact_str::CompactString;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::audit::finding::{FileId, Loc};

/// How a scalar was written; quoted scalars are never null or booleans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A scalar's text. `raw` holds the text as written when a later pass (Compose
/// interpolation) replaced `text`, so rules can tell `${DB_PASSWORD}` from a literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    /// Inline (no heap allocation) up to 24 bytes, which covers nearly every key and value
    /// of a deployment file; this halves the loader's allocations and memory.
    pub text: CompactString,
    pub style: Style,
    /// Boxed twice over so the common case (no interpolation) costs one pointer.
    pub raw: Option<Box<CompactString>>,
}

/// One key/value pair of a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A YAML node with the location it was written at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub loc: Loc,
    pub kind: Kind,
}

/// One document of a stream.
#[derive(Clone, Debug)]
pub struct Document {
    pub root: Node,
}

/// Resource limits of the loader.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum nesting of sequences and mappings.
    pub max_depth: usize,
    /// Maximum number of nodes that alias expansion may create in one file.
    pub alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 128,
            alias_nodes: 200_000,
        }
    }
}

/// Why a file could not be loaded; `line`/`col` are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub message: String,
    pub line: u32,
    pub col: u32,
}

impl LoadError {
    fn at(loc: Loc, message: String) -> LoadError {
        LoadError {
            message,
            line: loc.line,
            col: loc.col,
        }
    }
}

impl Node {
    /// A synthetic plain scalar, used by passes that normalise short syntax.
    pub fn scalar(loc: Loc, text: impl Into<CompactString>) -> Node {
        Node {
            loc,
            kind: Kind::Scalar(Scalar {
                text: text.into(),
                style: Style::Plain,
                raw: None,
            }),
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text, or `None` for collections and nulls.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) if !(s.style == Style::Plain && is_null_text(&s.text)) => Some(&s.text),
            _ => None,
        }
    }

    /// True for `~`, `null`, `Null`, `NULL` and the empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if s.style == Style::Plain && is_null_text(&s.text))
    }

    /// Lenient boolean as Compose and Kubernetes decode it (`true`/`yes`/`on`, any case).
    pub fn as_bool(&self) -> Option<bool> {
        let s = self.as_scalar()?;
        match s.text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_str()?.trim().parse().ok()
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry of a mapping whose key is the scalar `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?
            .iter()
            .find(|e| e.key.as_scalar().is_some_and(|k| k.text == key))
    }

    /// The value of a mapping's `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, k| node.get(k))
    }

    /// Mapping entries with scalar keys, as `(key text, entry)`.
    pub fn str_entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.as_map()
            .unwrap_or(&[])
            .iter()
            .filter_map(|e| e.key.as_scalar().map(|k| (k.text.as_str(), e)))
    }

    /// The text as originally written (before interpolation) for scalars.
    pub fn raw_text(&self) -> Option<&str> {
        let s = self.as_scalar()?;
        Some(
            s.raw
                .as_deref()
                .map_or(s.text.as_str(), CompactString::as_str),
        )
    }

    /// A short human name of the node's kind for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(_) if self.is_null() => "null",
            Kind::Scalar(_) => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }

    fn count(&self) -> usize {
        match &self.kind {
            Kind::Scalar(_) => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Kind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|e| e.key.count() + e.value.count())
                    .sum::<usize>()
            }
        }
    }
}

fn is_null_text(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

enum Frame {
    Seq {
        loc: Loc,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Node>,
    },
}

struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each line start, built lazily for quoted-scalar spans.
    line_starts: Vec<usize>,
    file: FileId,
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_budget: usize,
    docs: Vec<Document>,
}

/// Loads every document of `text`. Comment-only and empty documents are dropped.
pub fn load(text: &str, file: FileId, limits: Limits) -> Result<Vec<Document>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder {
        text,
        line_starts: Vec::new(),
        file,
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_budget: limits.alias_nodes,
        docs: Vec::new(),
    };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| LoadError {
            // The scanner has its own (flow) nesting guard; say it in the same words as ours.
            message: if e.info().contains("recursion limit") {
                "nesting deeper than the parser's recursion limit".to_string()
            } else {
                e.info().to_string()
            },
            line: e.marker().line() as u32,
            col: e.marker().col() as u32 + 1,
        })?;
        b.event(ev, span)?;
    }
    Ok(b.docs)
}

impl Builder<'_> {
    /// The parser's span of a quoted scalar runs on over trailing blanks and comments;
    /// measure the token itself, up to its closing quote, from the source line.
    fn quoted_len(&mut self, loc: Loc) -> u32 {
        if self.line_starts.is_empty() {
            self.line_starts.push(0);
            self.line_starts
                .extend(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| i + 1));
        }
        let Some(&start) = self.line_starts.get(loc.line as usize - 1) else {
            return loc.len;
        };
        let line = self.text[start..].lines().next().unwrap_or("");
        let mut chars = line.chars().skip(loc.col as usize - 1);
        let quote = match chars.next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return loc.len,
        };
        let mut n = 1u32;
        let mut escaped = false;
        let mut prev_quote = false;
        for c in chars {
            n += 1;
            if quote == '"' {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    return n;
                }
            } else if c == '\'' {
                // `''` is an escaped quote inside a single-quoted scalar.
                prev_quote = !prev_quote;
            } else if prev_quote {
                return n - 1;
            }
        }
        if quote == '\'' && prev_quote {
            return n;
        }
        loc.len
    }

    fn loc(&self, span: Span) -> Loc {
        let len = if span.start.line() == span.end.line() {
            span.end.col().saturating_sub(span.start.col()) as u32
        } else {
            0
        };
        Loc {
            file: self.file,
            line: span.start.line() as u32,
            col: span.start.col() as u32 + 1,
            len,
        }
    }

    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<(), LoadError> {
        let loc = self.loc(span);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let loc =
                    if matches!(style, Style::SingleQuoted | Style::DoubleQuoted) && loc.len > 0 {
                        Loc {
                            len: self.quoted_len(loc),
                            ..loc
                        }
                    } else {
                        loc
                    };
                let node = Node {
                    loc,
                    kind: Kind::Scalar(Scalar {
                        text: CompactString::from(text.as_ref()),
                        style,
                        raw: None,
                    }),
                };
                self.finish(node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.push(Frame::Seq {
                    loc,
                    anchor,
                    items: Vec::new(),
                })?;
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.push(Frame::Map {
                    loc,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                })?;
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    loc,
                    anchor,
                    mut items,
                }) => {
                    // Growth slack of the vectors is a large share of peak memory on big
                    // runs (every tree stays alive until the report is written).
                    items.shrink_to_fit();
                    self.finish(
                        Node {
                            loc,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    )
                }
                _ => Err(LoadError::at(loc, "unbalanced sequence end".into())),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    loc,
                    anchor,
                    entries,
                    ..
                }) => {
                    let mut entries = resolve_map(entries)?;
                    entries.shrink_to_fit();
                    self.finish(
                        Node {
                            loc,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    )
                }
                _ => Err(LoadError::at(loc, "unbalanced mapping end".into())),
            },
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| LoadError::at(loc, "alias to an unknown anchor".into()))?;
                if *size > self.alias_budget {
                    return Err(LoadError::at(
                        loc,
                        format!(
                            "alias expansion exceeds the limit of {} nodes (an alias bomb?)",
                            self.limits.alias_nodes
                        ),
                    ));
                }
                self.alias_budget -= *size;
                let node = node.clone();
                self.finish(node, 0)
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
        }
    }

    fn push(&mut self, frame: Frame) -> Result<(), LoadError> {
        if self.stack.len() >= self.limits.max_depth {
            let loc = match &frame {
                Frame::Seq { loc, .. } | Frame::Map { loc, .. } => *loc,
            };
            return Err(LoadError::at(
                loc,
                format!(
                    "nesting deeper than the limit of {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Places a completed node into its parent (or makes it a document root).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), LoadError> {
        if anchor != 0 {
            let size = node.count();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.docs.push(Document { root: node });
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push(Entry {
                    key: k,
                    value: node,
                }),
            },
        }
        Ok(())
    }
}

fn is_merge_key(n: &Node) -> bool {
    matches!(&n.kind, Kind::Scalar(s) if s.style == Style::Plain && s.text == "<<")
}

/// Checks duplicate keys and applies `<<` merges (see the module docs for the semantics).
fn resolve_map(entries: Vec<Entry>) -> Result<Vec<Entry>, LoadError> {
    check_duplicates(&entries)?;
    if !entries.iter().any(|e| is_merge_key(&e.key)) {
        return Ok(entries);
    }
    let mut explicit = Vec::with_capacity(entries.len());
    let mut sources = Vec::new();
    for e in entries {
        if is_merge_key(&e.key) {
            match e.value.kind {
                Kind::Map(m) => sources.push(m),
                Kind::Seq(items) => {
                    for item in items {
                        match item.kind {
                            Kind::Map(m) => sources.push(m),
                            _ => {
                                return Err(LoadError::at(
                                    item.loc,
                                    "a merge key (<<) list may only hold mappings".into(),
                                ))
                            }
                        }
                    }
                }
                _ => {
                    return Err(LoadError::at(
                        e.value.loc,
                        "the value of a merge key (<<) must be a mapping or a list of mappings"
                            .into(),
                    ))
                }
            }
        } else {
            explicit.push(e);
        }
    }
    // Keys already present, by text: a set, so a merge of n keys into m costs O(n + m), not
    // O(n * m) (a hostile file could otherwise make one mapping take hours).
    let mut present: std::collections::HashSet<CompactString> = explicit
        .iter()
        .filter_map(|x: &Entry| x.key.as_scalar().map(|k| k.text.clone()))
        .collect();
    for source in sources {
        for e in source {
            let new = match e.key.as_scalar() {
                Some(k) => present.insert(k.text.clone()),
                None => !explicit.iter().any(|x: &Entry| same_key(&x.key, &e.key)),
            };
            if new {
                explicit.push(e);
            }
        }
    }
    Ok(explicit)
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar(x), Kind::Scalar(y)) => x.text == y.text,
        _ => a.kind == b.kind,
    }
}

fn check_duplicates(entries: &[Entry]) -> Result<(), LoadError> {
    let dup = |first: &Entry, again: &Entry| {
        let name = again
            .key
            .as_scalar()
            .map_or("(complex key)", |s| s.text.as_str());
        LoadError::at(
            again.key.loc,
            format!(
                "duplicate key `{}` (first defined at line {})",
                name, first.key.loc.line
            ),
        )
    };
    if entries.len() <= 16 {
        for (i, e) in entries.iter().enumerate() {
            if is_merge_key(&e.key) {
                continue;
            }
            if let Some(first) = entries[..i].iter().find(|f| same_key(&f.key, &e.key)) {
                return Err(dup(first, e));
            }
        }
        return Ok(());
    }
    let mut seen: HashMap<&str, &Entry> = HashMap::with_capacity(entries.len());
    for e in entries {
        if is_merge_key(&e.key) {
            continue;
        }
        if let Some(s) = e.key.as_scalar() {
            if let Some(first) = seen.insert(s.text.as_str(), e) {
                return Err(dup(first, e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = load(text, 0, Limits::default()).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0).root
    }

    #[test]
    fn keeps_lines_and_columns_of_keys_and_values() {
        let n = one("a:\n  b: \"x\"\n");
        let e = n.get("a").unwrap().entry("b").unwrap();
        assert_eq!((e.key.loc.line, e.key.loc.col), (2, 3));
        assert_eq!(
            (e.value.loc.line, e.value.loc.col, e.value.loc.len),
            (2, 6, 3)
        );
    }

    #[test]
    fn merge_keys_explicit_wins_and_earlier_source_wins() {
        let n = one("a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  y: 3\n");
        let c = n.get("c").unwrap();
        assert_eq!(c.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(c.get("y").unwrap().as_str(), Some("3"));
        assert_eq!(c.get("z").unwrap().as_str(), Some("2"));
        // Merged values keep the location of the anchor that set them.
        assert_eq!(c.get("x").unwrap().loc.line, 1);
        assert_eq!(c.get("y").unwrap().loc.line, 5);
    }

    #[test]
    fn quoted_scalar_spans_stop_at_the_closing_quote() {
        let n = one("a: \"tr\\\"ue\"   # c\nb: 'it''s'  # d\nc: 'x'\n");
        assert_eq!(n.get("a").unwrap().loc.len, 8);
        assert_eq!(n.get("b").unwrap().loc.len, 7);
        assert_eq!(n.get("c").unwrap().loc.len, 3);
    }

    #[test]
    fn duplicate_keys_are_located_errors() {
        let e = load("a: 1\nb: 2\na: 3\n", 0, Limits::default()).unwrap_err();
        assert_eq!((e.line, e.col), (3, 1));
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
        assert!(e.message.contains("line 1"));
    }

    #[test]
    fn duplicate_keys_in_large_maps() {
        let mut s: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        s.push_str("k7: again\n");
        let e = load(&s, 0, Limits::default()).unwrap_err();
        assert_eq!(e.line, 41);
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            s.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
        }
        let start = std::time::Instant::now();
        let e = load(&s, 0, Limits::default()).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{}", e.message);
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn depth_cap() {
        let s = "[".repeat(500) + &"]".repeat(500);
        let e = load(&s, 0, Limits::default()).unwrap_err();
        assert!(e.message.contains("nesting deeper"), "{}", e.message);
    }

    #[test]
    fn multi_document_and_empty_documents() {
        let docs = load(
            "# c\n---\na: 1\n---\n# only a comment\n---\nb: 2\n",
            0,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].root.loc.line, 7);
        assert!(load("", 0, Limits::default()).unwrap().is_empty());
    }

    #[test]
    fn lenient_booleans_and_nulls() {
        let n = one("a: yes\nb: On\nc: \"true\"\nd:\ne: ~\n");
        assert_eq!(n.get("a").unwrap().as_bool(), Some(true));
        assert_eq!(n.get("b").unwrap().as_bool(), Some(true));
        assert_eq!(n.get("c").unwrap().as_bool(), Some(true));
        assert!(n.get("d").unwrap().is_null());
        assert!(n.get("e").unwrap().is_null());
    }

    #[test]
    fn json_loads() {
        let n = one("{\"a\": [1, {\"b\": null}]}");
        assert_eq!(n.get("a").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = load("a: [1, 2\nb: 3\n", 0, Limits::default()).unwrap_err();
        assert!(e.line >= 1 && e.col >= 1);
    }
}
