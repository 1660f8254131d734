//! The shipped Dockerfile, without a Docker engine: our own audit finds nothing in it,
//! hadolint passes, and the static binary its build stage makes (scripts/build-static.sh,
//! the same script) is built here, runs, and has no program interpreter.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn our_audit_finds_nothing_in_the_dockerfile() {
    let o = Command::new(assert_cmd::cargo::cargo_bin!("elastics-sec"))
        .args([
            "audit",
            "--fail-on",
            "info",
            "--format",
            "json",
            "Dockerfile",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{v:#}");
}

#[test]
fn hadolint_passes() {
    let bin = std::env::var("HADOLINT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/hadolint"));
    assert!(
        bin.exists(),
        "hadolint not found at {} (scripts/test.sh installs it)",
        bin.display()
    );
    let o = Command::new(bin)
        .arg("Dockerfile")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_final_image_is_scratch_non_root_without_a_shell() {
    let df = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.last().copied(), Some("FROM scratch"));
    assert!(df.contains("RUN scripts/build-static.sh /out"));
    assert!(df.contains("USER 65532:65532"));
    assert!(df.contains("ENTRYPOINT [\"/elastics-sec\"]"));
    assert!(df.contains("org.opencontainers.image.source"));
}

/// The type field of every entry of one of an ELF64 little-endian file's header tables:
/// the table's offset, entry size and count are at `at.0`, `at.1`, `at.2` of the ELF header,
/// and the type at `type_at` within an entry.
fn header_types(elf: &[u8], at: (usize, usize, usize), type_at: usize) -> Vec<u32> {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "ELF64");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (off, entsize, num) = (u64_at(at.0), u16_at(at.1), u16_at(at.2));
    (0..num)
        .map(|i| {
            let o = off + i * entsize + type_at;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect()
}

fn program_headers(elf: &[u8]) -> Vec<u32> {
    header_types(elf, (0x20, 0x36, 0x38), 0)
}

fn section_types(elf: &[u8]) -> Vec<u32> {
    header_types(elf, (0x28, 0x3a, 0x3c), 4)
}

#[test]
fn the_static_binary_builds_runs_and_needs_no_loader() {
    let out = root().join("target/static/test-out");
    let t0 = std::time::Instant::now();
    let o = Command::new(root().join("scripts/build-static.sh"))
        .arg(&out)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "static build failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("static build took {:?}", t0.elapsed());
    let bin = out.join("elastics-sec");
    let elf = std::fs::read(&bin).unwrap();
    const PT_INTERP: u32 = 3;
    assert!(
        !program_headers(&elf).contains(&PT_INTERP),
        "the binary asks for a dynamic loader"
    );
    eprintln!("static binary: {} bytes", elf.len());
    // Linked by LLD with scripts/daemon.order and packed relocations (see the script): the
    // sidecar's resident memory depends on it. `.comment` survives stripping.
    assert!(
        elf.windows(11).any(|w| w == b"Linker: LLD"),
        "the static binary was not linked by LLD, so it has no daemon code layout"
    );
    const SHT_RELR: u32 = 19;
    assert!(
        section_types(&elf).contains(&SHT_RELR),
        "the static binary has no packed relative relocations"
    );
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("elastics-sec "));
    // A FROM scratch image has no environment to speak of: the binary must still start.
    let v = Command::new(&bin)
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    assert!(v.status.success());
}
