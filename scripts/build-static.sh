#!/usr/bin/env bash
# The static release binary the Dockerfile ships: x86_64-unknown-linux-musl, both cloud
# providers, the release profile of Cargo.toml. The Dockerfile's build stage runs exactly this
# script, and tests/dockerfile_image.rs runs it too and checks the result.
#
#   scripts/build-static.sh [OUT_DIR]     # default target/static/out
#
# Needs rustup (for the musl target) and musl-gcc (Debian: musl-tools; installed with apt-get
# when missing and running as root). Uses its own target dir (target/static) so it does not
# invalidate the normal one. Musl, not static glibc: a statically linked glibc resolves DNS
# through NSS modules loaded at run time, which a FROM scratch image does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/static/out}"
TARGET=x86_64-unknown-linux-musl

if command -v rustup > /dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
if ! command -v musl-gcc > /dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
        apt-get install -y --no-install-recommends musl-tools > /dev/null 2>&1 \
            || { apt-get update > /dev/null && apt-get install -y --no-install-recommends musl-tools > /dev/null; }
    else
        echo "build-static: musl-gcc not found (Debian/Ubuntu: apt-get install musl-tools)" >&2
        exit 1
    fi
fi
export CC_x86_64_unknown_linux_musl=musl-gcc
export CARGO_TARGET_DIR="${STATIC_TARGET_DIR:-target/static}"
cargo build --release --locked -j"${JOBS:-2}" --target "$TARGET" --bin elastics-sec
mkdir -p "$OUT"
cp "$CARGO_TARGET_DIR/$TARGET/release/elastics-sec" "$OUT/elastics-sec"
echo "$OUT/elastics-sec"
