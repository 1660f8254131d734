//! The run's source files: paths as the user gave them, and their text, so reporters can show
//! the offending line and fingerprints can hash it.

use std::sync::Arc;

use crate::audit::finding::FileId;

/// One input file (or stdin) of the run.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the working directory when given so).
    pub path: String,
    pub text: Arc<str>,
    /// Byte offsets where each line starts; built once when the file is registered.
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(path: String, text: Arc<str>) -> SourceFile {
        let mut line_starts = Vec::with_capacity(text.len() / 32 + 1);
        line_starts.push(0);
        for i in memchr::memchr_iter(b'\n', text.as_bytes()) {
            line_starts.push((i + 1) as u32);
        }
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// The text of 1-based line `line`, without its line terminator.
    pub fn line(&self, line: u32) -> Option<&str> {
        let idx = (line as usize).checked_sub(1)?;
        let start = *self.line_starts.get(idx)? as usize;
        let end = self
            .line_starts
            .get(idx + 1)
            .map_or(self.text.len(), |&e| e as usize);
        let s = self.text.get(start..end)?;
        Some(s.trim_end_matches(['\n', '\r']))
    }

    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }
}

/// All files of a run, indexed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: String, text: Arc<str>) -> FileId {
        self.files.push(SourceFile::new(path, text));
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    pub fn path(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.path.as_str())
    }

    pub fn line(&self, id: FileId, line: u32) -> Option<&str> {
        self.get(id)?.line(line)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Overwrites secret tokens in the stored text with `*`, one per character, so no
    /// reporter, snippet or fingerprint can ever show them, whichever finding's line it
    /// prints. `len == 0` masks to the end of the line. Columns of other tokens on the line
    /// are unchanged.
    pub fn mask(&mut self, spans: &[crate::audit::finding::Loc]) {
        let mut by_file: std::collections::BTreeMap<FileId, Vec<(u32, u32, u32)>> =
            std::collections::BTreeMap::new();
        for l in spans.iter().filter(|l| l.line > 0) {
            by_file
                .entry(l.file)
                .or_default()
                .push((l.line, l.col, l.len));
        }
        for v in by_file.values_mut() {
            v.sort_unstable();
        }
        // Files are masked in parallel: a large run has secrets in thousands of files.
        use rayon::prelude::*;
        self.files
            .par_iter_mut()
            .enumerate()
            .for_each(|(id, file)| {
                if let Some(spans) = by_file.get(&(id as FileId)) {
                    let masked = masked_text(file, spans);
                    *file = SourceFile::new(std::mem::take(&mut file.path), Arc::from(masked));
                }
            });
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// `file`'s text with every character under `spans` (line, column, length; sorted)
/// replaced by `*`.
fn masked_text(file: &SourceFile, spans: &[(u32, u32, u32)]) -> String {
    // Walk the lines that hold secrets only; the text between them is copied whole.
    let text = &file.text;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < spans.len() {
        let line = spans[i].0;
        let mut j = i;
        while j < spans.len() && spans[j].0 == line {
            j += 1;
        }
        let Some(start) = file.line_starts.get(line as usize - 1).map(|&s| s as usize) else {
            break;
        };
        let body = text[start..].split('\n').next().unwrap_or("");
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push_str(&text[copied..start]);
        for (ci, c) in body.chars().enumerate() {
            let col = ci as u32 + 1;
            let secret = spans[i..j]
                .iter()
                .any(|&(_, s, len)| col >= s.max(1) && (len == 0 || col < s.max(1) + len));
            out.push(if secret { '*' } else { c });
        }
        copied = start + body.len();
        i = j;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::finding::Loc;

    #[test]
    fn mask_hides_spans_and_keeps_columns() {
        let mut m = SourceMap::default();
        let id = m.add(
            "f".into(),
            Arc::from("a: 1\nk: sécret # c\r\nz: tail-secret\nlast\n"),
        );
        m.mask(&[
            Loc {
                file: id,
                line: 2,
                col: 4,
                len: 6,
            },
            Loc {
                file: id,
                line: 3,
                col: 4,
                len: 0,
            },
        ]);
        assert_eq!(m.line(id, 1), Some("a: 1"));
        assert_eq!(m.line(id, 2), Some("k: ****** # c"));
        assert_eq!(m.line(id, 3), Some("z: ***********"));
        assert_eq!(m.line(id, 4), Some("last"));
        assert_eq!(m.get(id).unwrap().text.matches('\n').count(), 4);
    }
}
