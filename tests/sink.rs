//! Sink integration tests on a real tmpfs (`/dev/shm`) and, for the refusal path, a
//! disk-backed temporary directory.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use elastics_sec::sink::{is_memory_fs, OutputFile, Sink, SinkError, SinkOptions};

fn shm() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sink-test")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn opts() -> SinkOptions {
    SinkOptions {
        allow_non_tmpfs: false,
    }
}

fn file<'a>(name: &'a str, contents: &'a [u8], mode: u32) -> OutputFile<'a> {
    OutputFile {
        name,
        contents,
        mode,
        uid: None,
        gid: None,
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn generations(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| n.starts_with("..") && n != "..data")
        .collect()
}

fn euid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn writes_files_with_modes_and_owner() {
    let tmp = shm();
    let dir = tmp.path().join("out");
    assert!(is_memory_fs(tmp.path()).unwrap());
    let mut sink = Sink::open(&dir, &opts()).unwrap();
    assert_eq!(sink.dir(), dir);
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    let info = sink
        .write_generation(&[
            file("db-password", b"hunter2", 0o400),
            file("tls.key", b"-----KEY-----", 0o440),
            file("config.json", b"{}", 0o644),
        ])
        .unwrap();
    assert_eq!(info.files, 3);
    assert!(info.name.starts_with(".."));
    assert_eq!(
        fs::read_link(dir.join("..data")).unwrap(),
        PathBuf::from(&info.name)
    );
    for (name, contents, mode) in [
        ("db-password", &b"hunter2"[..], 0o400),
        ("tls.key", b"-----KEY-----", 0o440),
        ("config.json", b"{}", 0o644),
    ] {
        let p = dir.join(name);
        assert!(fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(
            fs::read_link(&p).unwrap(),
            PathBuf::from(format!("..data/{name}"))
        );
        assert_eq!(fs::read(&p).unwrap(), contents);
        let m = fs::metadata(&p).unwrap();
        assert!(m.is_file());
        assert_eq!(m.permissions().mode() & 0o7777, mode, "{name}");
        assert_eq!(m.uid(), euid());
    }
}

#[test]
fn chowns_when_root() {
    if euid() != 0 {
        eprintln!("not root: skipping the chown test");
        return;
    }
    let tmp = shm();
    let mut sink = Sink::open(tmp.path(), &opts()).unwrap();
    sink.write_generation(&[OutputFile {
        name: "owned",
        contents: b"x",
        mode: 0o440,
        uid: Some(65534),
        gid: Some(65534),
    }])
    .unwrap();
    let m = fs::metadata(tmp.path().join("owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    assert_eq!(m.permissions().mode() & 0o7777, 0o440);
    // A second generation still works (the old file is not ours by uid, but it is inside
    // our generation directory).
    sink.write_generation(&[file("owned", b"y", 0o400)])
        .unwrap();
    assert_eq!(fs::read(tmp.path().join("owned")).unwrap(), b"y");
}

#[test]
fn refuses_disk_without_allow_non_tmpfs() {
    let tmp = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    if is_memory_fs(tmp.path()).unwrap() {
        eprintln!("/tmp is a memory filesystem here: skipping");
        return;
    }
    let err = Sink::open(tmp.path(), &opts()).unwrap_err();
    assert!(matches!(err, SinkError::NotMemoryFs { .. }), "{err}");
    assert!(err.to_string().contains(&tmp.path().display().to_string()));
    let mut sink = Sink::open(
        tmp.path(),
        &SinkOptions {
            allow_non_tmpfs: true,
        },
    )
    .unwrap();
    sink.write_generation(&[file("a", b"1", 0o400)]).unwrap();
    assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"1");
}

#[test]
fn refuses_bad_and_duplicate_names() {
    let tmp = shm();
    let mut sink = Sink::open(tmp.path(), &opts()).unwrap();
    for bad in ["../x", "a/b", "..data", "a\nb", "", ".", "..", "..1_2"] {
        let err = sink
            .write_generation(&[file(bad, b"x", 0o400)])
            .unwrap_err();
        assert!(matches!(err, SinkError::BadName(..)), "{bad:?}: {err}");
    }
    let err = sink
        .write_generation(&[file("a", b"1", 0o400), file("a", b"2", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::DuplicateName(..)), "{err}");
    // Nothing was created by the refused calls.
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn refuses_foreign_entries_without_touching_them() {
    let tmp = shm();
    let dir = tmp.path();
    fs::write(dir.join("a"), b"user data").unwrap();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    let err = sink
        .write_generation(&[file("a", b"secret", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::NotOurs { .. }), "{err}");
    assert_eq!(fs::read(dir.join("a")).unwrap(), b"user data");
    assert_eq!(entries(dir), ["a"]);
    fs::remove_file(dir.join("a")).unwrap();

    // A symlink somewhere else.
    let victim = dir.join("victim");
    fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("b")).unwrap();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    let err = sink
        .write_generation(&[file("b", b"secret", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::NotOurs { .. }), "{err}");
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    assert_eq!(fs::read_link(dir.join("b")).unwrap(), victim);

    // A directory at a visible name.
    let tmp2 = shm();
    fs::create_dir(tmp2.path().join("c")).unwrap();
    let mut sink = Sink::open(tmp2.path(), &opts()).unwrap();
    let err = sink
        .write_generation(&[file("c", b"secret", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::NotOurs { .. }), "{err}");
    assert!(tmp2.path().join("c").is_dir());
}

#[test]
fn refuses_entries_of_another_uid() {
    if euid() != 0 {
        return;
    }
    let tmp = shm();
    let p = tmp.path().join("other");
    fs::write(&p, b"x").unwrap();
    std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    let mut sink = Sink::open(tmp.path(), &opts()).unwrap();
    let err = sink
        .write_generation(&[file("a", b"1", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::ForeignOwner { .. }), "{err}");
    assert!(p.exists());

    // The directory itself owned by someone else.
    let d = tmp.path().join("foreign-dir");
    fs::create_dir(&d).unwrap();
    std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
    let err = Sink::open(&d, &opts()).unwrap_err();
    assert!(matches!(err, SinkError::ForeignOwner { .. }), "{err}");
}

#[test]
fn refuses_symlinked_dir() {
    let tmp = shm();
    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = Sink::open(&link, &opts()).unwrap_err();
    assert!(matches!(err, SinkError::DirIsSymlink(..)), "{err}");
    assert!(entries(&real).is_empty());
}

#[test]
fn refuses_a_regular_file_as_dir() {
    let tmp = shm();
    let p = tmp.path().join("file");
    fs::write(&p, b"x").unwrap();
    let err = Sink::open(&p, &opts()).unwrap_err();
    assert!(matches!(err, SinkError::NotADirectory(..)), "{err}");
    assert_eq!(fs::read(&p).unwrap(), b"x");
}

#[test]
fn keeps_one_generation_and_removes_dropped_names() {
    let tmp = shm();
    let dir = tmp.path();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    for i in 0..20 {
        let c = format!("v{i}");
        sink.write_generation(&[
            file("keep", c.as_bytes(), 0o400),
            file("drop", c.as_bytes(), 0o400),
        ])
        .unwrap();
        // The current generation plus recently retired ones (still readable for a reader
        // that resolved `..data` just before a swap), never more than the bound.
        let n = generations(dir).len();
        assert!(
            (1..=1 + elastics_sec::sink::MAX_RETIRED).contains(&n),
            "{:?}",
            entries(dir)
        );
    }
    let info = sink
        .write_generation(&[file("keep", b"last", 0o400)])
        .unwrap();
    // Dropped names are gone at once; retired generations stay for the grace.
    let visible: Vec<String> = entries(dir)
        .into_iter()
        .filter(|e| !generations(dir).contains(e))
        .collect();
    assert_eq!(visible, ["..data", "keep"]);
    assert_eq!(fs::read(dir.join("keep")).unwrap(), b"last");
    assert_eq!(entries(&dir.join(&info.name)), ["keep"]);
    // After the grace, the next write leaves the current and the previous generation only.
    std::thread::sleep(elastics_sec::sink::RETIRE_GRACE + std::time::Duration::from_millis(100));
    let next = sink
        .write_generation(&[file("keep", b"next", 0o400)])
        .unwrap();
    let mut expected = vec![
        "..data".to_string(),
        info.name.clone(),
        next.name.clone(),
        "keep".into(),
    ];
    expected.sort();
    assert_eq!(entries(dir), expected);
}

#[test]
fn refused_generation_leaves_previous_in_place() {
    let tmp = shm();
    let dir = tmp.path();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    let first = sink.write_generation(&[file("a", b"one", 0o400)]).unwrap();
    // One bad name refuses the whole set before anything is created.
    let err = sink
        .write_generation(&[file("a", b"two", 0o400), file("b/c", b"x", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::BadName(..)));
    // A foreign entry appearing later refuses the set too.
    fs::write(dir.join("intruder"), b"x").unwrap();
    let err = sink
        .write_generation(&[file("a", b"two", 0o400)])
        .unwrap_err();
    assert!(matches!(err, SinkError::NotOurs { .. }), "{err}");
    assert_eq!(fs::read(dir.join("a")).unwrap(), b"one");
    assert_eq!(generations(dir), vec![first.name]);
}

#[test]
fn error_messages_carry_no_contents() {
    let tmp = shm();
    fs::write(tmp.path().join("a"), b"x").unwrap();
    let mut sink = Sink::open(tmp.path(), &opts()).unwrap();
    let canary = b"CANARY-7f3a9c-secret";
    let err = sink
        .write_generation(&[file("a", canary, 0o400)])
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("CANARY"), "{text}");
}

#[test]
fn wipe_removes_everything_we_created() {
    let tmp = shm();
    let dir = tmp.path();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    sink.write_generation(&[file("a", b"1", 0o400), file("b", b"2", 0o400)])
        .unwrap();
    sink.write_generation(&[file("a", b"3", 0o400), file("c", b"4", 0o400)])
        .unwrap();
    sink.wipe().unwrap();
    assert!(entries(dir).is_empty(), "{:?}", entries(dir));
    // The sink is usable again afterwards.
    sink.write_generation(&[file("a", b"5", 0o400)]).unwrap();
    assert_eq!(fs::read(dir.join("a")).unwrap(), b"5");
}

/// Contents of file `idx` at generation `n`: a repeated marker, so a torn read of any length
/// is detectable, and sizes that differ between files.
fn contents(idx: usize, n: u64) -> Vec<u8> {
    let size = [12, 4096 + 7, 70_000][idx];
    let unit = format!("gen={n:08};");
    unit.as_bytes().iter().copied().cycle().take(size).collect()
}

/// Generation number of a complete file `idx`, or `None` when torn or malformed.
fn parse(idx: usize, data: &[u8]) -> Option<u64> {
    let head = std::str::from_utf8(data.get(4..12)?).ok()?;
    let n: u64 = head.parse().ok()?;
    (data == contents(idx, n).as_slice()).then_some(n)
}

#[test]
fn readers_never_see_partial_or_mixed_sets() {
    const NAMES: [&str; 3] = ["small", "medium", "large"];
    const ROTATIONS: u64 = 1000;
    let tmp = shm();
    let dir = tmp.path().to_path_buf();
    let mut sink = Sink::open(&dir, &opts()).unwrap();
    let write = |sink: &mut Sink, n: u64| {
        let bodies: Vec<Vec<u8>> = (0..3).map(|i| contents(i, n)).collect();
        let files: Vec<OutputFile<'_>> = NAMES
            .iter()
            .zip(&bodies)
            .map(|(name, b)| file(name, b, 0o400))
            .collect();
        sink.write_generation(&files).unwrap();
    };
    write(&mut sink, 0);

    let done = Arc::new(AtomicBool::new(false));
    let set_reads = Arc::new(AtomicU64::new(0));
    let file_reads = Arc::new(AtomicU64::new(0));

    // Consistent-set reader: resolve `..data` once, read every file from that generation.
    let set_reader = {
        let (dir, done, reads) = (dir.clone(), done.clone(), set_reads.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                let Ok(gen) = fs::read_link(dir.join("..data")) else {
                    panic!("..data missing");
                };
                let mut seen = Vec::new();
                for (i, name) in NAMES.iter().enumerate() {
                    match fs::read(dir.join(&gen).join(name)) {
                        Ok(d) => seen.push(parse(i, &d).expect("torn file in a generation")),
                        // The writer removed this (old) generation between readlink and
                        // open: not a mixed set, just a stale one; start over.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                if seen.len() == NAMES.len() {
                    assert!(seen.iter().all(|n| *n == seen[0]), "mixed set {seen:?}");
                    assert!(seen[0] >= last, "went back in time");
                    last = seen[0];
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Per-file reader through the visible names: every read is a complete file.
    let file_reader = {
        let (dir, done, reads) = (dir.clone(), done.clone(), file_reads.clone());
        std::thread::spawn(move || {
            let mut last = [0u64; 3];
            while !done.load(Ordering::Relaxed) {
                for (i, name) in NAMES.iter().enumerate() {
                    let d = fs::read(dir.join(name)).expect("visible name unreadable");
                    let n = parse(i, &d).expect("torn file via visible name");
                    assert!(n >= last[i], "went back in time");
                    last[i] = n;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    for n in 1..=ROTATIONS {
        write(&mut sink, n);
    }
    done.store(true, Ordering::Relaxed);
    set_reader.join().unwrap();
    file_reader.join().unwrap();
    let (sets, files) = (
        set_reads.load(Ordering::Relaxed),
        file_reads.load(Ordering::Relaxed),
    );
    eprintln!("consistent-set reads: {sets}, visible-name file reads: {files}");
    assert!(sets > 0 && files > 0);
    assert!(generations(&dir).len() <= 1 + elastics_sec::sink::MAX_RETIRED);
    assert_eq!(
        parse(2, &fs::read(dir.join("large")).unwrap()),
        Some(ROTATIONS)
    );
}

/// A retired generation stays readable for the grace period and is removed by a later
/// write; in steady state only the current and the previous generation exist.
#[test]
fn retired_generations_stay_readable_for_the_grace_then_go() {
    let tmp = shm();
    let dir = tmp.path();
    let mut sink = Sink::open(dir, &opts()).unwrap();
    let g1 = sink.write_generation(&[file("a", b"1", 0o400)]).unwrap();
    // A reader resolved `..data` to g1 just before the next swap...
    let resolved = dir.join(fs::read_link(dir.join("..data")).unwrap());
    let g2 = sink.write_generation(&[file("a", b"2", 0o400)]).unwrap();
    // ...and can still open its file after it.
    assert_eq!(fs::read(resolved.join("a")).unwrap(), b"1");
    assert_eq!(generations(dir).len(), 2);
    std::thread::sleep(elastics_sec::sink::RETIRE_GRACE + std::time::Duration::from_millis(100));
    let g3 = sink.write_generation(&[file("a", b"3", 0o400)]).unwrap();
    // g1 was retired longer than the grace: gone; g2 (the previous one) stays.
    let mut now = generations(dir);
    now.sort();
    let mut want = vec![g2.name.clone(), g3.name.clone()];
    want.sort();
    assert_eq!(now, want, "g1 {} should be gone", g1.name);
    assert_eq!(fs::read(dir.join("a")).unwrap(), b"3");
}
