//! Atomic writer of secret files into a memory-backed directory.
//!
//! Layout (the scheme kubelet uses for Secret volumes, which applications already handle):
//!
//! ```text
//! <dir>/..<secs>.<nanos>_<counter>/<name>   one directory per generation, regular files
//! <dir>/..data -> ..<secs>.<nanos>_<counter> swapped atomically with rename(2)
//! <dir>/<name> -> ..data/<name>             user-visible names, stable across generations
//! ```
//!
//! A refresh writes every file of the set into a fresh generation directory (final mode and
//! owner are set before any byte of content is written), fsyncs it, then swaps `..data` in one
//! `rename`. A reader that resolves `..data` once sees one consistent set; a reader that opens
//! a visible name sees a complete file of either the old or the new generation, never a
//! partial one.
//!
//! Every operation is relative to a directory file descriptor opened with `O_NOFOLLOW`, so a
//! symlink swapped in for the directory after [`Sink::open`] cannot redirect writes. The sink
//! refuses (never follows, never deletes) entries it did not create: every entry of the
//! directory must be owned by our effective uid, and every name not starting with `..` must be
//! a symlink to `..data/<name>`.
//!
//! Old generations are not removed at the moment of the swap: a reader that resolved `..data`
//! an instant before it still has to look up its file in that directory, and deleting it then
//! makes the open fail with ENOENT. A generation stays for [`RETIRE_GRACE`] after it stopped
//! being current (at most [`MAX_RETIRED`] of them, oldest removed first) and is removed by a
//! later write; the previous generation is always kept until the next one, so the directory
//! holds at most two generations in steady state.
//!
//! A directory created by [`Sink::open`] gets mode 0755: consumers often run as another uid and
//! need to traverse it; confidentiality comes from each file's own mode.

use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// `TMPFS_MAGIC` from `linux/magic.h`.
const TMPFS_MAGIC: i128 = 0x0102_1994;
/// `RAMFS_MAGIC` from `linux/magic.h`.
const RAMFS_MAGIC: i128 = 0x8584_58f6;

/// The symlink readers resolve to find the current generation.
const DATA: &str = "..data";
/// Staging name for the next `..data`; renamed over it.
const DATA_TMP: &str = "..data_tmp";
/// Staging name for a visible symlink; renamed to its final name. One fixed name (rather
/// than one per file) because `..` plus a 255-byte name would not fit in a component.
const LINK_TMP: &str = "..link_tmp";

/// Errors of the sink. Variants carry paths and errno text, never file contents.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid file name {0:?}: {1}")]
    BadName(String, &'static str),
    #[error("file name {0:?} appears more than once in one generation")]
    DuplicateName(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not on tmpfs/ramfs (filesystem magic {magic:#x}); set allow_non_tmpfs to accept it")]
    NotMemoryFs { path: PathBuf, magic: i128 },
    #[error("{0} is a symlink; refusing to use it as an output directory")]
    DirIsSymlink(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("{path} is owned by uid {uid}, not by us (uid {ours}); refusing to touch it")]
    ForeignOwner { path: PathBuf, uid: u32, ours: u32 },
    #[error("{path} was not created by this sink ({why}); refusing to replace or delete it")]
    NotOurs { path: PathBuf, why: &'static str },
}

/// Options of [`Sink::open`].
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Accept a directory that is not on tmpfs/ramfs (secrets may then reach a disk).
    pub allow_non_tmpfs: bool,
}

/// One file of a generation.
#[derive(Clone, Copy)]
pub struct OutputFile<'a> {
    /// User-visible name (see [`validate_name`]).
    pub name: &'a str,
    pub contents: &'a [u8],
    /// Permission bits (e.g. `0o400`); applied exactly, regardless of the umask.
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

// Contents are secret: Debug shows only their length.
impl std::fmt::Debug for OutputFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("name", &self.name)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .finish()
    }
}

/// What [`Sink::write_generation`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationInfo {
    /// Name of the generation directory (`..data` points to it).
    pub name: String,
    /// Number of files written.
    pub files: usize,
}

/// An output directory, opened and checked.
#[derive(Debug)]
pub struct Sink {
    dir: PathBuf,
    fd: OwnedFd,
    uid: u32,
    /// Generations that stopped being current, with when, newest last.
    retired: Vec<(String, std::time::Instant)>,
}

/// How long a generation that stopped being current stays readable.
pub const RETIRE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Most retired generations kept within the grace (bounds tmpfs use under rapid rotation).
pub const MAX_RETIRED: usize = 16;

/// Per-process counter that makes generation names unique even within one clock tick.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `path` is on tmpfs or ramfs.
pub fn is_memory_fs(path: &Path) -> Result<bool, SinkError> {
    let st = rustix::fs::statfs(path).map_err(|e| io_err("statfs", path, e))?;
    Ok(is_memory_magic(i128::from(st.f_type)))
}

fn is_memory_magic(magic: i128) -> bool {
    magic == TMPFS_MAGIC || magic == RAMFS_MAGIC
}

fn io_err(op: &'static str, path: &Path, e: Errno) -> SinkError {
    SinkError::Io {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// A user-visible file name: one path component, printable, not `.`/`..`, not hidden by
/// accident of the generation scheme (`..` prefix is reserved).
pub fn validate_name(name: &str) -> Result<(), SinkError> {
    let bad = |why| Err(SinkError::BadName(name.to_string(), why));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." || name.starts_with("..") {
        return bad("`.`, `..` and names starting with `..` are reserved");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("contains a path separator");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    Ok(())
}

/// `..<digits>.<digits>_<digits>`: the shape of the generation names we create.
fn is_generation_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("..") else {
        return false;
    };
    let Some((stamp, counter)) = rest.split_once('_') else {
        return false;
    };
    let Some((secs, nanos)) = stamp.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(secs) && digits(nanos) && digits(counter)
}

/// What the directory holds before a generation is written.
#[derive(Default)]
struct Scan {
    /// Visible names that are our symlinks (`name -> ..data/name`).
    visible: Vec<String>,
    /// Generation directories.
    generations: Vec<String>,
    /// Staging entries left by an interrupted run.
    staging: Vec<&'static str>,
    has_data: bool,
    /// The generation `..data` points to.
    current: Option<String>,
}

impl Sink {
    /// Open (creating it with mode 0755 if missing) and check an output directory: it must
    /// not be a symlink, must be owned by our effective uid, and must be on tmpfs/ramfs unless
    /// `opts.allow_non_tmpfs`.
    pub fn open(dir: &Path, opts: &SinkOptions) -> Result<Sink, SinkError> {
        let uid = rustix::process::geteuid().as_raw();
        let mut created = false;
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(SinkError::DirIsSymlink(dir.to_path_buf()))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::os::unix::fs::DirBuilderExt;
                match std::fs::DirBuilder::new().mode(0o755).create(dir) {
                    Ok(()) => created = true,
                    // Lost a race with another creator: the checks below still apply.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(source) => {
                        return Err(SinkError::Io {
                            op: "create directory",
                            path: dir.to_path_buf(),
                            source,
                        })
                    }
                }
            }
            Err(source) => {
                return Err(SinkError::Io {
                    op: "lstat",
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
        // O_NOFOLLOW closes the window between the lstat above and this open.
        let fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP => SinkError::DirIsSymlink(dir.to_path_buf()),
            Errno::NOTDIR => SinkError::NotADirectory(dir.to_path_buf()),
            e => io_err("open", dir, e),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err("fstat", dir, e))?;
        if st.st_uid != uid {
            return Err(SinkError::ForeignOwner {
                path: dir.to_path_buf(),
                uid: st.st_uid,
                ours: uid,
            });
        }
        if created {
            // The mode given to mkdir is filtered by the umask; 0755 is what is documented.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))
                .map_err(|e| io_err("chmod", dir, e))?;
        }
        let sfs = rustix::fs::fstatfs(&fd).map_err(|e| io_err("statfs", dir, e))?;
        let magic = i128::from(sfs.f_type);
        if !is_memory_magic(magic) {
            if !opts.allow_non_tmpfs {
                return Err(SinkError::NotMemoryFs {
                    path: dir.to_path_buf(),
                    magic,
                });
            }
            tracing::warn!(
                dir = %dir.display(),
                magic = format_args!("{magic:#x}"),
                "output directory is not on tmpfs/ramfs; secrets may be written to disk"
            );
        }
        Ok(Sink {
            dir: dir.to_path_buf(),
            fd,
            uid,
            retired: Vec::new(),
        })
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Check every entry of the directory is ours and classify it.
    fn scan(&self) -> Result<Scan, SinkError> {
        let mut scan = Scan::default();
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(|e| io_err("read", &self.dir, e))?;
        for entry in dir {
            let entry = entry.map_err(|e| io_err("read", &self.dir, e))?;
            let raw = entry.file_name();
            let raw_bytes = raw.to_bytes();
            if raw_bytes == b"." || raw_bytes == b".." {
                continue;
            }
            let os_path = self.dir.join(OsStr::from_bytes(raw_bytes));
            let st = rustix::fs::statat(&self.fd, raw, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io_err("lstat", &os_path, e))?;
            if st.st_uid != self.uid {
                return Err(SinkError::ForeignOwner {
                    path: os_path,
                    uid: st.st_uid,
                    ours: self.uid,
                });
            }
            let Ok(name) = std::str::from_utf8(raw_bytes) else {
                return Err(SinkError::NotOurs {
                    path: os_path,
                    why: "name is not UTF-8",
                });
            };
            let ftype = FileType::from_raw_mode(st.st_mode);
            match name {
                DATA if ftype == FileType::Symlink => {
                    scan.has_data = true;
                    scan.current = rustix::fs::readlinkat(&self.fd, DATA, Vec::new())
                        .ok()
                        .and_then(|t| t.into_string().ok());
                }
                DATA_TMP if ftype == FileType::Symlink => scan.staging.push(DATA_TMP),
                LINK_TMP if ftype == FileType::Symlink => scan.staging.push(LINK_TMP),
                n if is_generation_name(n) && ftype == FileType::Directory => {
                    scan.generations.push(n.to_string())
                }
                n if n.starts_with("..") => {
                    return Err(SinkError::NotOurs {
                        path: os_path,
                        why: "unexpected entry in the reserved `..` namespace",
                    })
                }
                n => {
                    if ftype != FileType::Symlink {
                        return Err(SinkError::NotOurs {
                            path: os_path,
                            why: "not a symlink",
                        });
                    }
                    let target = self.readlink(raw, &os_path)?;
                    if target.as_bytes() != format!("{DATA}/{n}").as_bytes() {
                        return Err(SinkError::NotOurs {
                            path: os_path,
                            why: "symlink does not point to ..data/<name>",
                        });
                    }
                    scan.visible.push(n.to_string());
                }
            }
        }
        Ok(scan)
    }

    fn readlink(&self, name: &CStr, path: &Path) -> Result<std::ffi::CString, SinkError> {
        rustix::fs::readlinkat(&self.fd, name, Vec::new()).map_err(|e| io_err("readlink", path, e))
    }

    /// Write `files` as one new generation and make it current (see the module docs).
    pub fn write_generation(
        &mut self,
        files: &[OutputFile<'_>],
    ) -> Result<GenerationInfo, SinkError> {
        let mut seen = HashSet::new();
        for f in files {
            validate_name(f.name)?;
            if !seen.insert(f.name) {
                return Err(SinkError::DuplicateName(f.name.to_string()));
            }
        }
        let scan = self.scan()?;
        for s in &scan.staging {
            self.unlink(s, AtFlags::empty())?;
        }

        let (gen_name, gen_fd) = self.create_generation_dir()?;
        if let Err(e) = self.fill_generation(&gen_name, &gen_fd, files) {
            // The previous generation is untouched; drop the half-written one.
            if let Err(cleanup) = self.remove_generation(&gen_name) {
                tracing::warn!(error = %cleanup, "could not remove a failed generation");
            }
            return Err(e);
        }
        drop(gen_fd);

        // From here on the new generation is live; errors leave it in place.
        for name in files.iter().map(|f| f.name) {
            if !scan.visible.iter().any(|v| v == name) {
                self.create_visible_link(name)?;
            }
        }
        for stale in scan.visible.iter().filter(|v| !seen.contains(v.as_str())) {
            self.unlink_our_link(stale)?;
        }
        // The generation that was current until now stays (see the module docs); so do
        // recently retired ones, up to MAX_RETIRED; everything else goes.
        let now = std::time::Instant::now();
        let previous = scan.current.clone();
        self.retired.retain(|(g, _)| scan.generations.contains(g));
        if let Some(p) = &previous {
            if !self.retired.iter().any(|(g, _)| g == p) {
                self.retired.push((p.clone(), now));
            }
        }
        let mut keep: Vec<String> = Vec::new();
        for (g, at) in self.retired.iter().rev() {
            let is_previous = previous.as_deref() == Some(g.as_str());
            if is_previous || (now.duration_since(*at) < RETIRE_GRACE && keep.len() < MAX_RETIRED) {
                keep.push(g.clone());
            }
        }
        self.retired.retain(|(g, _)| keep.contains(g));
        for old in scan.generations.iter().filter(|g| !keep.contains(g)) {
            self.remove_generation(old)?;
        }
        rustix::fs::fsync(&self.fd).map_err(|e| io_err("fsync", &self.dir, e))?;
        Ok(GenerationInfo {
            name: gen_name,
            files: files.len(),
        })
    }

    fn create_generation_dir(&self) -> Result<(String, OwnedFd), SinkError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("..{}.{:09}_{n}", now.as_secs(), now.subsec_nanos());
            let path = self.path(&name);
            match rustix::fs::mkdirat(&self.fd, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                // Another sink process on the same directory picked the same name.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(io_err("create directory", &path, e)),
            }
            let fd = rustix::fs::openat(
                &self.fd,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", &path, e));
            let fd = match fd {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = self.unlink(&name, AtFlags::REMOVEDIR);
                    return Err(e);
                }
            };
            // Created 0700 so nothing is readable while it fills; 0755 (umask-independent)
            // so consumers of another uid can traverse it once it is current. Files carry
            // their own restrictive modes.
            if let Err(e) = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)) {
                let _ = self.unlink(&name, AtFlags::REMOVEDIR);
                return Err(io_err("chmod", &path, e));
            }
            return Ok((name, fd));
        }
    }

    fn fill_generation(
        &self,
        gen_name: &str,
        gen_fd: &OwnedFd,
        files: &[OutputFile<'_>],
    ) -> Result<(), SinkError> {
        let gen_path = self.path(gen_name);
        for (i, f) in files.iter().enumerate() {
            let path = gen_path.join(f.name);
            #[cfg(test)]
            if tests::FAIL_AT_FILE.with(|c| c.get()) == Some(i) {
                return Err(io_err("injected failure", &path, Errno::IO));
            }
            #[cfg(not(test))]
            let _ = i;
            let fd = rustix::fs::openat(
                gen_fd,
                f.name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| io_err("create", &path, e))?;
            // Owner first: chown clears set-id bits, so the mode is applied after it.
            if f.uid.is_some() || f.gid.is_some() {
                rustix::fs::fchown(
                    &fd,
                    f.uid.map(rustix::fs::Uid::from_raw),
                    f.gid.map(rustix::fs::Gid::from_raw),
                )
                .map_err(|e| io_err("chown", &path, e))?;
            }
            // The create mode is filtered by the umask; set the configured bits exactly.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(f.mode & 0o7777))
                .map_err(|e| io_err("chmod", &path, e))?;
            let mut file = std::fs::File::from(fd);
            file.write_all(f.contents)
                .and_then(|()| file.sync_all())
                .map_err(|source| SinkError::Io {
                    op: "write",
                    path: path.clone(),
                    source,
                })?;
        }
        rustix::fs::fsync(gen_fd).map_err(|e| io_err("fsync", &gen_path, e))?;

        // Swap `..data` in one rename: readers see the old or the new set, nothing between.
        let tmp_path = self.path(DATA_TMP);
        match rustix::fs::unlinkat(&self.fd, DATA_TMP, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(io_err("unlink", &tmp_path, e)),
        }
        rustix::fs::symlinkat(gen_name, &self.fd, DATA_TMP)
            .map_err(|e| io_err("symlink", &tmp_path, e))?;
        if let Err(e) = rustix::fs::renameat(&self.fd, DATA_TMP, &self.fd, DATA) {
            let _ = rustix::fs::unlinkat(&self.fd, DATA_TMP, AtFlags::empty());
            return Err(io_err("rename", &self.path(DATA), e));
        }
        Ok(())
    }

    /// `name -> ..data/name`, created under a staging name and renamed without replacing, so
    /// a file someone put at `name` since the scan is never clobbered.
    fn create_visible_link(&self, name: &str) -> Result<(), SinkError> {
        let path = self.path(name);
        let tmp_path = self.path(LINK_TMP);
        match rustix::fs::unlinkat(&self.fd, LINK_TMP, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(io_err("unlink", &tmp_path, e)),
        }
        rustix::fs::symlinkat(format!("{DATA}/{name}"), &self.fd, LINK_TMP)
            .map_err(|e| io_err("symlink", &tmp_path, e))?;
        let res =
            rustix::fs::renameat_with(&self.fd, LINK_TMP, &self.fd, name, RenameFlags::NOREPLACE);
        if let Err(e) = res {
            let _ = rustix::fs::unlinkat(&self.fd, LINK_TMP, AtFlags::empty());
            return Err(match e {
                Errno::EXIST => SinkError::NotOurs {
                    path,
                    why: "appeared while the generation was written",
                },
                e => io_err("rename", &path, e),
            });
        }
        Ok(())
    }

    /// Remove a visible name, re-checking it is still our symlink: the scan was a moment ago
    /// and something else may have been put there since.
    fn unlink_our_link(&self, name: &str) -> Result<(), SinkError> {
        let path = self.path(name);
        match rustix::fs::readlinkat(&self.fd, name, Vec::new()) {
            Ok(t) if t.as_bytes() == format!("{DATA}/{name}").as_bytes() => {
                self.unlink(name, AtFlags::empty())
            }
            Err(Errno::NOENT) => Ok(()),
            Ok(_) | Err(Errno::INVAL) => Err(SinkError::NotOurs {
                path,
                why: "replaced while the generation was written",
            }),
            Err(e) => Err(io_err("readlink", &path, e)),
        }
    }

    fn unlink(&self, name: &str, flags: AtFlags) -> Result<(), SinkError> {
        match rustix::fs::unlinkat(&self.fd, name, flags) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_err("remove", &self.path(name), e)),
        }
    }

    /// Remove a generation directory and the regular files in it (it holds nothing else).
    fn remove_generation(&self, name: &str) -> Result<(), SinkError> {
        let path = self.path(name);
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err("open", &path, e)),
        };
        let dir = rustix::fs::Dir::read_from(&fd).map_err(|e| io_err("read", &path, e))?;
        for entry in dir {
            let entry = entry.map_err(|e| io_err("read", &path, e))?;
            let raw = entry.file_name();
            if raw.to_bytes() == b"." || raw.to_bytes() == b".." {
                continue;
            }
            match rustix::fs::unlinkat(&fd, raw, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(io_err(
                        "remove",
                        &path.join(OsStr::from_bytes(raw.to_bytes())),
                        e,
                    ))
                }
            }
        }
        self.unlink(name, AtFlags::REMOVEDIR)
    }

    /// Remove every visible name, `..data`, staging entries and all generations. Entries that
    /// are not ours are left alone (with a warning). The directory itself stays.
    pub fn wipe(&mut self) -> Result<(), SinkError> {
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(|e| io_err("read", &self.dir, e))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| io_err("read", &self.dir, e))?;
            names.push(entry.file_name().to_owned());
        }
        let mut generations = Vec::new();
        for raw in &names {
            let bytes = raw.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let os_path = self.dir.join(OsStr::from_bytes(bytes));
            let st = match rustix::fs::statat(&self.fd, raw.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err("lstat", &os_path, e)),
            };
            let ftype = FileType::from_raw_mode(st.st_mode);
            let name = std::str::from_utf8(bytes).ok();
            let ours = st.st_uid == self.uid
                && match name {
                    Some(DATA | DATA_TMP | LINK_TMP) => ftype == FileType::Symlink,
                    Some(n) if is_generation_name(n) => {
                        if ftype == FileType::Directory {
                            generations.push(n.to_string());
                        }
                        false
                    }
                    Some(n) if !n.starts_with("..") && ftype == FileType::Symlink => {
                        self.readlink(raw, &os_path)?.as_bytes() == format!("{DATA}/{n}").as_bytes()
                    }
                    _ => false,
                };
            if ours {
                self.unlink_raw(raw, &os_path)?;
            } else if !name.is_some_and(is_generation_name) {
                tracing::warn!(path = %os_path.display(), "wipe: leaving an entry this sink did not create");
            }
        }
        for g in &generations {
            self.remove_generation(g)?;
        }
        rustix::fs::fsync(&self.fd).map_err(|e| io_err("fsync", &self.dir, e))
    }

    fn unlink_raw(&self, raw: &CStr, path: &Path) -> Result<(), SinkError> {
        match rustix::fs::unlinkat(&self.fd, raw, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_err("remove", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Fail `fill_generation` just before creating the file at this index.
        pub(super) static FAIL_AT_FILE: std::cell::Cell<Option<usize>> =
            const { std::cell::Cell::new(None) };
    }

    fn file<'a>(name: &'a str, contents: &'a [u8]) -> OutputFile<'a> {
        OutputFile {
            name,
            contents,
            mode: 0o400,
            uid: None,
            gid: None,
        }
    }

    #[test]
    fn failure_mid_generation_keeps_previous() {
        let tmp = tempfile::Builder::new()
            .tempdir_in("/dev/shm")
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path();
        let mut sink = Sink::open(dir, &SinkOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let first = sink
            .write_generation(&[file("a", b"one"), file("b", b"one")])
            .unwrap_or_else(|e| panic!("{e}"));
        FAIL_AT_FILE.with(|c| c.set(Some(1)));
        let err = sink.write_generation(&[file("a", b"two"), file("b", b"two"), file("c", b"two")]);
        FAIL_AT_FILE.with(|c| c.set(None));
        assert!(matches!(err, Err(SinkError::Io { .. })));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut expected = vec![
            "..data".to_string(),
            first.name.clone(),
            "a".into(),
            "b".into(),
        ];
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(
            std::fs::read(dir.join("a")).ok().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            std::fs::read(dir.join("b")).ok().as_deref(),
            Some(&b"one"[..])
        );
        // And the next generation succeeds.
        sink.write_generation(&[file("a", b"three")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read(dir.join("a")).ok().as_deref(),
            Some(&b"three"[..])
        );
    }

    #[test]
    fn generation_names() {
        assert!(is_generation_name("..1733220000.000000001_0"));
        assert!(!is_generation_name("..data"));
        assert!(!is_generation_name("..data_tmp"));
        assert!(!is_generation_name("..1.2"));
        assert!(!is_generation_name("1.2_3"));
    }

    #[test]
    fn debug_hides_contents() {
        let f = OutputFile {
            name: "a",
            contents: b"canary-secret-value",
            mode: 0o400,
            uid: None,
            gid: None,
        };
        let s = format!("{f:?}");
        assert!(!s.contains("canary"), "{s}");
    }
}
