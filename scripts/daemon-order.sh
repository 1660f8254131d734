#!/usr/bin/env bash
# Regenerates scripts/daemon.order, the list of functions the daemon modes (fetch, agent,
# exec) run, which scripts/build-static.sh hands to the linker so that they sit together in
# the static binary and a sidecar maps only the pages it runs (BENCHMARKS.md, "Secrets
# delivery"). Run it after changing the toolchain, Cargo.lock, the release profile or
# features (all part of the mangled names), or the daemon code; stale names only lose
# their placement.
#
#   scripts/daemon-order.sh
#
# Builds the static binary with its symbol table (STATIC_SYMBOLS=1, target/static-symbols),
# then runs the Key Vault end-to-end tests (tests/e2e_azure.rs, tests/e2e_certs.rs) with
# that binary under valgrind's callgrind, and scripts/daemon-order.py: every daemon mode
# under callgrind against a moto server and the local provider. Loopback only. Needs valgrind and nm (installed with
# apt-get when run as root) and the moto venv of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
log() { echo "daemon-order: $*" >&2; }

{ command -v valgrind > /dev/null && command -v nm > /dev/null; } || apt_install valgrind binutils
if [[ ! -x .venv/bin/moto_server ]]; then
    log "installing moto into .venv"
    moto_venv
fi

OUT_DIR="${STATIC_SYMBOLS_DIR:-target/static-symbols}"
STATIC_SYMBOLS=1 STATIC_TARGET_DIR="$OUT_DIR" scripts/build-static.sh "$OUT_DIR/out" > /dev/null
BIN="$(realpath "$OUT_DIR/out/elastics-sec")"

# The Azure paths: the Key Vault end-to-end tests (the Key Vault test server of
# tests/support/) run this binary under callgrind instead of their own build.
CG="$(mktemp -d)"
trap 'rm -rf "$CG"' EXIT
log "Key Vault end-to-end tests under callgrind"
ELASTICS_SEC_TEST_BIN="$BIN" \
    ELASTICS_SEC_TEST_WRAPPER="valgrind -q --tool=callgrind --callgrind-out-file=$CG/callgrind.%p --demangle=no --dump-line=no --dump-instr=no --compress-strings=no --compress-pos=no" \
    MOTO_SERVER="$PWD/.venv/bin/moto_server" \
    cargo test -j2 --test e2e_azure --test e2e_certs -q >&2
MOTO_SERVER="$PWD/.venv/bin/moto_server" .venv/bin/python scripts/daemon-order.py "$BIN" scripts/daemon.order "$CG"
