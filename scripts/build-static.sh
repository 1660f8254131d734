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
. scripts/lib.sh
OUT="${1:-target/static/out}"
TARGET=x86_64-unknown-linux-musl

if command -v rustup > /dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
command -v musl-gcc > /dev/null || apt_install musl-tools
export CC_x86_64_unknown_linux_musl=musl-gcc
export CARGO_TARGET_DIR="${STATIC_TARGET_DIR:-target/static}"

# Link with LLD (the one rustup ships) for two things that cut the sidecar's resident memory
# (BENCHMARKS.md, "Secrets delivery"):
# - scripts/daemon.order lists the functions that fetch, agent and exec run (recorded by
#   scripts/daemon-order.sh); placing them next to each other means the few MiB of code a
#   sidecar runs are all the kernel maps, instead of pages scattered over the whole 12 MiB
#   text, most of them audit code a sidecar never runs. A stale or missing name only loses
#   its placement, never correctness.
# - packed relative relocations (RELR): the static-PIE start-up code reads a few KiB of
#   relocations instead of 600 KiB. Musl's start-up code applies them (musl >= 1.2.4; the
#   target links the musl that rustup bundles, not the system's musl-tools).
# Flags, not the Cargo profile, so symbol names (hence the order file) do not depend on them.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
GCC_LD="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/gcc-ld"
ORDERED=0
if [[ -x $GCC_LD/ld.lld ]]; then
    ORDERED=1
    LINK_FLAGS="-C link-arg=-fuse-ld=lld -C link-arg=-B$GCC_LD -C link-arg=-Wl,-z,pack-relative-relocs"
    # The order file's path is relative to the workspace root (this package), where cargo
    # runs rustc and rustc the linker.
    LINK_FLAGS+=" -C link-arg=-Wl,--symbol-ordering-file=scripts/daemon.order -C link-arg=-Wl,--no-warn-symbol-ordering"
else
    echo "build-static: no rust-lld in the toolchain ($GCC_LD); linking without the code layout" >&2
    LINK_FLAGS=""
fi
# STATIC_SYMBOLS=1 keeps the symbol table, for scripts/daemon-order.sh. It overrides the
# profile's `strip` with a flag instead of changing the profile, because the profile is part
# of every symbol's mangled hash and the names recorded must be the names linked.
if [[ ${STATIC_SYMBOLS:-0} == 1 ]]; then
    LINK_FLAGS+=" -C strip=none"
fi
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$LINK_FLAGS"
# Cargo does not know the linker reads the order file: when it is newer than the binary,
# drop this package's artifacts from this target dir (dependencies stay) so it relinks.
BUILT="$CARGO_TARGET_DIR/$TARGET/release/elastics-sec"
if [[ $ORDERED == 1 && -e $BUILT && scripts/daemon.order -nt $BUILT ]]; then
    cargo clean --release --target "$TARGET" -p elastics-sec
fi
cargo build --release --locked -j"${JOBS:-2}" --target "$TARGET" --bin elastics-sec
mkdir -p "$OUT"
cp "$BUILT" "$OUT/elastics-sec"
echo "$OUT/elastics-sec"
