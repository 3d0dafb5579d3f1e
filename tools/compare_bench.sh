#!/usr/bin/env bash
# Runs the PyTorch baseline and `kneeclip bench` in turn on this machine,
# ROUNDS times (default 3, the order alternating), and prints kneeclip's time
# as a ratio of PyTorch's (below 1 = faster): each round's, and their median.
# Rounds, because a shared host's speed moves under both: on the 2-core AMX
# VMs one film's features took 23 or 47 ms (one thread: 42 or 88 ms) for
# seconds to minutes at a time, within one process, whatever its threads'
# pinning or page size (docs/PERFORMANCE.md, "A shared host's two speeds").
# Dev-time only: needs the venv of tools/requirements-dev.txt
# (PYTHON=/path/to/python, default $HOME/.cache/kneeclip-venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$HOME/.cache/kneeclip-venv/bin/python}"
THREADS="${THREADS:-2}"
REPEATS="${REPEATS:-10}"
ROUNDS="${ROUNDS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --quiet ${PROFILE:+--profile "$PROFILE"} ${FEATURES:+--features "$FEATURES"}
bin="$CARGO_TARGET_DIR/${PROFILE:-debug}/kneeclip"
[ "${PROFILE:-}" = release ] && bin="$CARGO_TARGET_DIR/release/kneeclip"

torch() {
    echo "round $1: PyTorch ($THREADS threads)…" >&2
    "$PYTHON" tools/bench_pytorch.py --json --threads "$THREADS" --repeats "$REPEATS" --skip-train >"$out/torch.$1.json"
}
ours() {
    echo "round $1: kneeclip…" >&2
    RAYON_NUM_THREADS="$THREADS" "$bin" bench --json --repeats "$REPEATS" >"$out/kneeclip.$1.json"
}
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then torch "$round"; ours "$round"; else ours "$round"; torch "$round"; fi
done

"$PYTHON" - "$out" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name, r: json.load(open(f"{out}/{name}.{r}.json"))
torch = [load("torch", r) for r in range(1, rounds + 1)]
ours = [load("kneeclip", r) for r in range(1, rounds + 1)]
targets = {"image_b1_ms": 0.8, "image_b16_ms_per_image": 0.9, "anchors_ms": None, "open_to_grade_ms": None}

def table(field, heading):
    print(heading)
    print(f"{'figure':<24}{'PyTorch':>9}{'kneeclip':>10}{'ratio':>7}  {'each round':<{7 * rounds}}target")
    for key, target in targets.items():
        pairs = [((t.get(field) or {}) if field else t, (k.get(field) or {}) if field else k) for t, k in zip(torch, ours)]
        pairs = [(t.get(key), k.get(key)) for t, k in pairs]
        if any(t is None or k is None for t, k in pairs):
            continue
        ratios = [k / t for t, k in pairs]
        each = " ".join(f"{r:.2f}" for r in ratios)
        goal = "" if field else (f"<= {target}x" if target else {"anchors_ms": "<= 50 ms", "open_to_grade_ms": "<= 300 ms"}[key])
        t_med, k_med = statistics.median(t for t, _ in pairs), statistics.median(k for _, k in pairs)
        print(f"{key:<24}{t_med:>9.1f}{k_med:>10.1f}{statistics.median(ratios):>7.2f}  {each:<{7 * rounds}}{goal}")

table(None, f"medians over {rounds} round(s) (ratio: the median of the rounds' ratios)")
table("cpu_time", "\nprocess CPU time (all threads; at THREADS=1 the load-independent cost):")
k = ours[-1]
print(f"kneeclip build: {k.get('build')}, device {k.get('device')}, matrix kernel {k.get('kernel')}")
PY
