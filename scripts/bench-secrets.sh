#!/usr/bin/env bash
# Secrets pipeline benchmark against a local moto Secrets Manager server:
#   - `elastics-sec fetch` of 100 secrets vs. a bare AWS SDK loop doing the same calls
#     (benches/bare_sdk_fetch.rs) at the same concurrency: mean wall time and ratio;
#   - `elastics-sec agent` resident memory (steady median and peak) and CPU seconds over a
#     sampling window, with refresh = "10s" (busy) and refresh = "1h" (idle);
#   - size of the release binary.
# Prints a markdown table ready to paste into BENCHMARKS.md.
#
#   scripts/bench-secrets.sh [--quick]
#   ELASTICS_SEC_BIN=target/static/out/elastics-sec scripts/bench-secrets.sh   # another binary
#
# --quick: fewer runs and a 10 s agent window, for a smoke test. Needs cargo, python3 and
# hyperfine (installed with apt-get when run as root; otherwise a `date` loop is used).
# moto goes into .venv/ like scripts/test.sh does. Only loopback is contacted.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    RUNS=5 WARMUP=1 AGENT_SECONDS=10
else
    RUNS=${RUNS:-20} WARMUP=3 AGENT_SECONDS=${AGENT_SECONDS:-60}
fi
COUNT=100
PREFIX=bench-secret
CONCURRENCY=16

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/lib.sh
log() { echo "bench-secrets: $*" >&2; }

# Loopback only, static test credentials, never an instance metadata probe.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

if [[ ! -x .venv/bin/moto_server ]]; then
    log "installing moto into .venv"
    moto_venv
fi
# Optional: without hyperfine a `date` loop times the runs.
command -v hyperfine > /dev/null || apt_install hyperfine || true

WORK="$(mktemp -d)"
OUT_BASE="/dev/shm/elastics-sec-bench-$$"
MOTO_PID="" AGENT_PID=""
cleanup() {
    [[ -n $AGENT_PID ]] && kill "$AGENT_PID" 2> /dev/null || true
    [[ -n $MOTO_PID ]] && kill "$MOTO_PID" 2> /dev/null || true
    rm -rf "$WORK" "$OUT_BASE"*
}
trap cleanup EXIT

log "building (release)"
BARE="$(cargo build --release -j2 --bench bare_sdk_fetch --message-format=json \
    | .venv/bin/python -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "bare_sdk_fetch" and m.get("executable"):
        print(m["executable"])')"
[[ -x $BARE ]] || { log "bench binary not found"; exit 1; }
if [[ -n ${ELASTICS_SEC_BIN:-} ]]; then
    # A binary built elsewhere, e.g. the image's static build (scripts/build-static.sh).
    BIN="$(realpath "$ELASTICS_SEC_BIN")"
else
    # Built after the bench target: building a bench also refreshes
    # target/release/elastics-sec from the bench's own unit, which may be older than the tree.
    cargo build --release -j2 --bin elastics-sec
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/elastics-sec"
fi

PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do
    .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$ENDPOINT/moto-api/')" 2> /dev/null && break
    sleep 0.1
done
export BENCH_ENDPOINT_URL="$ENDPOINT" BENCH_CONCURRENCY=$CONCURRENCY
log "moto on $ENDPOINT; seeding $COUNT secrets"
"$BARE" seed "$PREFIX" "$COUNT"

# config REFRESH OUT_DIR > file
config() {
    cat << TOML
environment = "development"

[output]
dir = "$2"
mode = "0400"

[agent]
refresh = "$1"
listen = "off"

[fetch]
concurrency = $CONCURRENCY

[providers.aws]
type = "aws-secrets-manager"
region = "us-east-1"
endpoint_url = "$ENDPOINT"
TOML
    for i in $(seq 0 $((COUNT - 1))); do
        printf '\n[[secret]]\nname = "%s-%03d"\nprovider = "aws"\nfile = "%s-%03d"\n' "$PREFIX" "$i" "$PREFIX" "$i"
    done
}
config 10s "$OUT_BASE-fetch" > "$WORK/fetch.toml"
config 10s "$OUT_BASE-agent10s" > "$WORK/agent-10s.toml"
config 1h "$OUT_BASE-agent1h" > "$WORK/agent-1h.toml"

# Sanity: both sides succeed and fetch writes every file.
"$BIN" fetch --config "$WORK/fetch.toml" > /dev/null
[[ $(find "$OUT_BASE-fetch" -type f | wc -l) == "$COUNT" ]] || { log "fetch wrote the wrong number of files"; exit 1; }
"$BARE" fetch "$PREFIX" "$COUNT"

FETCH_CMD="$BIN fetch --config $WORK/fetch.toml"
BARE_CMD="$BARE fetch $PREFIX $COUNT"
if command -v hyperfine > /dev/null; then
    log "hyperfine: $RUNS runs each"
    hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/hf.json" \
        -n fetch "$FETCH_CMD" -n bare-sdk "$BARE_CMD" >&2
    read -r FETCH_MS FETCH_SD BARE_MS BARE_SD < <(.venv/bin/python -c 'import json,sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
print(*("%.1f %.1f" % (r[k]["mean"]*1e3, r[k]["stddev"]*1e3) for k in ("fetch", "bare-sdk")))' "$WORK/hf.json")
else
    log "no hyperfine: timing loop, $RUNS runs each"
    mean_ms() {
        local total=0 t0 t1
        for _ in $(seq "$WARMUP"); do $1 > /dev/null; done
        for _ in $(seq "$RUNS"); do
            t0=$(date +%s%N); $1 > /dev/null; t1=$(date +%s%N)
            total=$((total + t1 - t0))
        done
        echo "scale=1; $total / $RUNS / 1000000" | bc
    }
    FETCH_MS=$(mean_ms "$FETCH_CMD") FETCH_SD=n/a
    BARE_MS=$(mean_ms "$BARE_CMD") BARE_SD=n/a
fi
RATIO=$(.venv/bin/python -c "print('%.2f' % ($FETCH_MS / $BARE_MS))")

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime (fields 14 and 15; counted after the `)` closing comm).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# agent_run REFRESH: prints "steady_rss_kib peak_rss_kib cpu_seconds anon_kib file_kib"
# (the last two: RssAnon and RssFile at the end of the window)
agent_run() {
    local refresh=$1 out="$OUT_BASE-agent$1" rss=() t0 t1 peak n anon file
    "$BIN" agent --config "$WORK/agent-$refresh.toml" > "$WORK/agent-$refresh.log" 2>&1 &
    AGENT_PID=$!
    # Started = every secret delivered once.
    for _ in $(seq 300); do
        n=$( (find "$out" -type f 2> /dev/null || true) | wc -l)
        [[ $n == "$COUNT" ]] && break
        kill -0 "$AGENT_PID" 2> /dev/null || { log "agent exited: $(tail -3 "$WORK/agent-$refresh.log")"; exit 1; }
        sleep 0.1
    done
    [[ $n == "$COUNT" ]] || { log "agent did not deliver all secrets"; exit 1; }
    sleep 1
    t0=$(cpu_ticks "$AGENT_PID")
    for _ in $(seq "$AGENT_SECONDS"); do
        sleep 1
        rss+=("$(status_kb "$AGENT_PID" VmRSS)")
    done
    t1=$(cpu_ticks "$AGENT_PID")
    peak=$(status_kb "$AGENT_PID" VmHWM)
    anon=$(status_kb "$AGENT_PID" RssAnon)
    file=$(status_kb "$AGENT_PID" RssFile)
    kill "$AGENT_PID"; wait "$AGENT_PID" 2> /dev/null || true
    AGENT_PID=""
    printf '%s\n' "${rss[@]}" | sort -n | awk -v peak="$peak" -v cpu=$((t1 - t0)) -v hz="$CLK_TCK" \
        -v anon="$anon" -v file="$file" \
        '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%d %d %.2f %d %d\n", m, peak, cpu / hz, anon, file}'
}
log "agent, refresh 10s: sampling ${AGENT_SECONDS}s"
read -r A10_RSS A10_PEAK A10_CPU A10_ANON A10_FILE < <(agent_run 10s)
log "agent, refresh 1h: sampling ${AGENT_SECONDS}s"
read -r A1H_RSS A1H_PEAK A1H_CPU A1H_ANON A1H_FILE < <(agent_run 1h)

SIZE=$(stat -c %s "$BIN")
mib() { .venv/bin/python -c "print('%.1f' % ($1 / 1024))"; }

cat << MD

Machine: $(nproc) cores, Linux $(uname -r). $COUNT secrets of ~100 bytes, concurrency $CONCURRENCY, moto ${MOTO_PACKAGE#*==} on loopback.

| Measurement | Result |
|---|---|
| \`fetch\` of $COUNT secrets, mean ($RUNS runs) | $FETCH_MS ms ± $FETCH_SD |
| bare SDK loop, same calls, mean ($RUNS runs) | $BARE_MS ms ± $BARE_SD |
| fetch / bare SDK | ${RATIO}× |
| agent RSS, refresh 10s: steady (median) / peak | $(mib "$A10_RSS") MiB / $(mib "$A10_PEAK") MiB |
| agent RSS, refresh 10s: anonymous / file-backed | $(mib "$A10_ANON") MiB / $(mib "$A10_FILE") MiB |
| agent CPU over ${AGENT_SECONDS} s, refresh 10s | $A10_CPU s |
| agent RSS, refresh 1h: steady (median) / peak | $(mib "$A1H_RSS") MiB / $(mib "$A1H_PEAK") MiB |
| agent RSS, refresh 1h: anonymous / file-backed | $(mib "$A1H_ANON") MiB / $(mib "$A1H_FILE") MiB |
| agent CPU over ${AGENT_SECONDS} s, refresh 1h (idle) | $A1H_CPU s |
| release binary size (stripped) | $SIZE bytes ($(.venv/bin/python -c "print('%.1f' % ($SIZE / 1e6))") MB) |
MD
