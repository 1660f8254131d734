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
        for (id, spans) in by_file {
            let Some(file) = self.files.get_mut(id as usize) else {
                continue;
            };
            let mut out = String::with_capacity(file.text.len());
            for (i, line) in file.text.split_inclusive('\n').enumerate() {
                let no = i as u32 + 1;
                let hits: Vec<&(u32, u32, u32)> = spans.iter().filter(|s| s.0 == no).collect();
                if hits.is_empty() {
                    out.push_str(line);
                    continue;
                }
                let body = line.trim_end_matches(['\n', '\r']);
                let ending = &line[body.len()..];
                for (ci, c) in body.chars().enumerate() {
                    let col = ci as u32 + 1;
                    let secret = hits.iter().any(|&&(_, start, len)| {
                        col >= start.max(1) && (len == 0 || col < start.max(1) + len)
                    });
                    out.push(if secret { '*' } else { c });
                }
                out.push_str(ending);
            }
            *file = SourceFile::new(std::mem::take(&mut file.path), Arc::from(out));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
