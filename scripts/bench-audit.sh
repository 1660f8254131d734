#!/usr/bin/env bash
# Audit benchmark: generates a corpus of realistic compose files and measures
# `elastics-sec audit` end to end, the same corpus parsed only (`--parse-only`, no rules)
# and the start-up time of `elastics-sec --version`, multi- and single-threaded, and the
# rule overhead once more in pairs (scripts/bench/paired_ratio.py).
# Prints markdown tables ready to paste into BENCHMARKS.md.
#
#   scripts/bench-audit.sh [--quick]
#
# --quick: 400 files and fewer runs, for a smoke test; the numbers in BENCHMARKS.md come
# from a full run. Needs cargo, python3, hyperfine and GNU time (`/usr/bin/time`); when run
# as root, missing tools are installed with apt-get. The corpus goes to a temporary
# directory outside the repository and is removed at exit. No network access is needed
# beyond that optional install.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done

if [[ $QUICK == 1 ]]; then
    FILES=400 WARMUP=1 RUNS=3 ST_RUNS=2 STARTUP_RUNS=50 PAIRS=5
else
    FILES=2000 WARMUP=3 RUNS=10 ST_RUNS=5 STARTUP_RUNS=300 PAIRS=40
fi
SEED=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "bench-audit: $*" >&2; }

. scripts/lib.sh
command -v hyperfine > /dev/null || apt_install hyperfine
[[ -x /usr/bin/time ]] || apt_install time
command -v python3 > /dev/null || { log "python3 is required"; exit 1; }

read -r LOAD1 _ < /proc/loadavg
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 1.0) }'; then
    log "warning: load average is $LOAD1; other work on the machine will skew the numbers"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/elastics-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "building the release binary"
cargo build --release -j2 >&2
# Benchmark a private copy, so a rebuild in the working tree cannot swap it mid-run.
mkdir -p "$WORK/bin"
cp "${CARGO_TARGET_DIR:-target}/release/elastics-sec" "$WORK/bin/elastics-sec"
BIN="$WORK/bin/elastics-sec"
[[ $WORK != *[[:space:]]* ]] || { log "temporary directory path contains spaces: $WORK"; exit 1; }

CORPUS="$WORK/corpus"
log "generating $FILES compose files (seed $SEED)"
GEN_OUT="$(python3 scripts/bench/gen_compose_corpus.py "$CORPUS" --files "$FILES" --seed "$SEED")"
log "$GEN_OUT"

# The timed commands must audit cleanly: exit 0 or 1 (findings at --fail-on), never 2.
for extra in "" "--parse-only"; do
    rc=0
    # shellcheck disable=SC2086
    "$BIN" audit $extra --format json --fail-on critical "$CORPUS" > /dev/null 2> "$WORK/stderr" || rc=$?
    if [[ $rc -gt 1 ]]; then
        log "audit $extra exited $rc:"
        head -20 "$WORK/stderr" >&2
        exit 1
    fi
done
"$BIN" audit --format json --fail-on critical "$CORPUS" > "$WORK/report.json" 2> /dev/null || true

AUDIT="$BIN audit --format json --fail-on critical $CORPUS"
PARSE="$BIN audit --parse-only --format json --fail-on critical $CORPUS"

# Exit code 1 (critical findings) is expected, hence -i; exit 2 was ruled out above.
hf() { hyperfine -N -i --style basic --output=null "$@" >&2; }

log "timing, all threads"
hf --warmup "$WARMUP" --min-runs "$RUNS" --export-json "$WORK/mt.json" \
    -n e2e "$AUDIT" -n parse "$PARSE"
log "timing, one thread"
RAYON_NUM_THREADS=1 hf --warmup 1 --runs "$ST_RUNS" --export-json "$WORK/st.json" \
    -n e2e "$AUDIT" -n parse "$PARSE"
log "timing start-up"
hf --warmup 20 --runs "$STARTUP_RUNS" --export-json "$WORK/startup.json" \
    -n version "$BIN --version"

# Peak RSS: the largest of three runs, via GNU time.
rss() {
    local max=0 kb
    for _ in 1 2 3; do
        # shellcheck disable=SC2086
        env "$@" > /dev/null 2> "$WORK/time.txt" || true
        kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$WORK/time.txt")
        ((kb > max)) && max=$kb
    done
    echo "$max"
}
# The same overhead measured in pairs (one audit run, then at once one parse-only run), which
# a machine whose speed drifts between the two hyperfine blocks above cannot skew.
log "timing audit / parse-only in $PAIRS pairs"
PAIRED="$(python3 scripts/bench/paired_ratio.py --pairs "$PAIRS" "$CORPUS" "$BIN")"
log "measuring peak RSS"
# shellcheck disable=SC2086
{
    RSS_MT_E2E=$(rss /usr/bin/time -v $AUDIT)
    RSS_MT_PARSE=$(rss /usr/bin/time -v $PARSE)
    RSS_ST_E2E=$(rss RAYON_NUM_THREADS=1 /usr/bin/time -v $AUDIT)
    RSS_ST_PARSE=$(rss RAYON_NUM_THREADS=1 /usr/bin/time -v $PARSE)
}

export PAIRED GEN_OUT WORK RSS_MT_E2E RSS_MT_PARSE RSS_ST_E2E RSS_ST_PARSE QUICK
export NPROC="$(nproc)" PAIRS
python3 - << 'EOF'
import json, os

work = os.environ["WORK"]
gen = dict(kv.split("=") for kv in os.environ["GEN_OUT"].split())
files, nbytes, anchored = int(gen["files"]), int(gen["bytes"]), int(gen["anchored"])

def load(name):
    return {r["command"]: r for r in json.load(open(os.path.join(work, name)))["results"]}

mt, st, su = load("mt.json"), load("st.json"), load("startup.json")["version"]
with open(os.path.join(work, "report.json")) as f:
    report = json.load(f)
findings = len(report["findings"])

def secs(r):
    m, s = r["mean"], r["stddev"] or 0.0
    return "%.3f s ± %.3f s" % (m, s)

def rss(kb):
    return "%.0f MiB" % (int(kb) / 1024)

def row(label, threads, r, kb):
    m = r["mean"]
    return "| %s | %s | %s | %s | %.1f | %s |" % (
        label, threads, secs(r), format(round(files / m), ","), nbytes / 1e6 / m, rss(kb))

n = os.environ["NPROC"]
print()
if os.environ["QUICK"] == "1":
    print("> **Quick run** (--quick): %d files, few runs; not for BENCHMARKS.md." % files)
    print()
print("Corpus: %d compose files, %.1f MB (%s bytes), %d (%.0f%%) with `x-` anchors and `<<` merges; "
      "the end-to-end JSON report lists %s findings." % (files, nbytes / 1e6, format(nbytes, ","), anchored,
                                            100 * anchored / files, format(findings, ",")))
print()
print("| Run | Threads | Wall time (mean ± σ) | Files/s | MB/s | Peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
print(row("End to end (rules, JSON report)", n, mt["e2e"], os.environ["RSS_MT_E2E"]))
print(row("Parse only (`--parse-only`)", n, mt["parse"], os.environ["RSS_MT_PARSE"]))
print(row("End to end (rules, JSON report)", 1, st["e2e"], os.environ["RSS_ST_E2E"]))
print(row("Parse only (`--parse-only`)", 1, st["parse"], os.environ["RSS_ST_PARSE"]))
print("| Start-up (`--version`) | 1 | %.2f ms ± %.2f ms | | | |" % (su["mean"] * 1e3, (su["stddev"] or 0) * 1e3))
print()
ov_mt = (mt["e2e"]["mean"] - mt["parse"]["mean"]) / mt["parse"]["mean"]
ov_st = (st["e2e"]["mean"] - st["parse"]["mean"]) / st["parse"]["mean"]
print("Rule overhead (end to end − parse only) / parse only: **%.0f%%** with %s threads, "
      "%.0f%% with 1 thread." % (100 * ov_mt, n, 100 * ov_st))
print()
print("Paired (`scripts/bench/paired_ratio.py --pairs %s`): %s" % (os.environ["PAIRS"], os.environ["PAIRED"].split(": ", 1)[1]))
print()
mbs = nbytes / 1e6 / mt["e2e"]["mean"]
start_ms = su["mean"] * 1e3
met = lambda ok: "met" if ok else "**not met**"
print("| Target | Measured | Result |")
print("|---|---:|---|")
print("| End to end ≥ 20 MB/s (%s threads) | %.1f MB/s | %s |" % (n, mbs, met(mbs >= 20)))
import re
ov_pair = float(re.search(r"ratio median ([0-9.]+)", os.environ["PAIRED"]).group(1)) - 1
print("| Rule overhead ≤ 50%% of parse time | %.0f%% paired (%.0f%% from the hyperfine means) | %s |"
      % (100 * ov_pair, 100 * ov_mt, met(ov_pair <= 0.5 and ov_mt <= 0.5)))
print("| Start-up (`--version`) ≤ 10 ms | %.2f ms | %s |" % (start_ms, met(start_ms <= 10)))
EOF
