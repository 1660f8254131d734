#!/usr/bin/env python3
"""Audit time over parse-only time, measured in pairs.

    scripts/bench/paired_ratio.py [--pairs N] DIR BIN [BIN...]

For each binary, runs N pairs of `BIN audit --format json --fail-on critical DIR` followed
at once by the same command with `--parse-only`, and prints the medians of both times and
the median and mean of the N per-pair ratios. Binaries are interleaved pair by pair, so a
machine whose speed drifts (a shared VM) affects every binary and both sides of a ratio
alike, which two long back-to-back hyperfine blocks do not guarantee. Output goes to
/dev/null; one warm-up pair per binary is not counted. A run that exits with anything but 0
or 1 (an input error, a crash) stops the measurement.
"""
import argparse
import statistics
import subprocess
import time


def run(binary, corpus, parse_only):
    cmd = [binary, "audit", "--format", "json", "--fail-on", "critical"]
    if parse_only:
        cmd.append("--parse-only")
    cmd.append(corpus)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    # 0: no findings at the threshold, 1: findings. Anything else (2: input errors) means
    # the run did not audit what it was meant to, so its time means nothing.
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr.decode(errors='replace')}"
        )
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("corpus")
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    results = {b: ([], [], []) for b in args.binaries}
    for b in args.binaries:
        run(b, args.corpus, False)
        run(b, args.corpus, True)
    for _ in range(args.pairs):
        for b in args.binaries:
            audit = run(b, args.corpus, False)
            parse = run(b, args.corpus, True)
            a, p, r = results[b]
            a.append(audit)
            p.append(parse)
            r.append(audit / parse)
    for b, (a, p, r) in results.items():
        print(
            f"{b}: audit {statistics.median(a) * 1e3:.1f} ms, "
            f"parse-only {statistics.median(p) * 1e3:.1f} ms, "
            f"ratio median {statistics.median(r):.3f} mean {statistics.mean(r):.3f} "
            f"({args.pairs} pairs)"
        )


if __name__ == "__main__":
    main()
