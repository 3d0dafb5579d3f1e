#!/usr/bin/env bash
# Runs the PyTorch baseline and `kneeclip bench` one after the other on this
# machine and prints kneeclip's time as a ratio of PyTorch's (below 1 = faster).
# Dev-time only: needs the venv of tools/requirements-dev.txt
# (PYTHON=/path/to/python, default $HOME/.cache/kneeclip-venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$HOME/.cache/kneeclip-venv/bin/python}"
THREADS="${THREADS:-2}"
REPEATS="${REPEATS:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --quiet ${PROFILE:+--profile "$PROFILE"} ${FEATURES:+--features "$FEATURES"}
bin="$CARGO_TARGET_DIR/${PROFILE:-debug}/kneeclip"
[ "${PROFILE:-}" = release ] && bin="$CARGO_TARGET_DIR/release/kneeclip"

echo "PyTorch ($THREADS threads)…" >&2
"$PYTHON" tools/bench_pytorch.py --json --threads "$THREADS" --repeats "$REPEATS" --skip-train >"$out/torch.json"
echo "kneeclip…" >&2
RAYON_NUM_THREADS="$THREADS" "$bin" bench --json --repeats "$REPEATS" >"$out/kneeclip.json"

"$PYTHON" - "$out/torch.json" "$out/kneeclip.json" <<'PY'
import json, sys
torch, ours = (json.load(open(p)) for p in sys.argv[1:3])
targets = {"image_b1_ms": 0.8, "image_b16_ms_per_image": 0.9, "anchors_ms": None, "open_to_grade_ms": None}
print(f"{'figure':<26}{'PyTorch':>10}{'kneeclip':>10}{'ratio':>8}  target")
for key, target in targets.items():
    t, k = torch.get(key), ours.get(key)
    if t is None or k is None:
        print(f"{key:<26}{'-':>10}{'-':>10}")
        continue
    goal = f"<= {target}x" if target else {"anchors_ms": "<= 50 ms", "open_to_grade_ms": "<= 300 ms"}[key]
    print(f"{key:<26}{t:>10.1f}{k:>10.1f}{k / t:>8.2f}  {goal}")
tc, oc = torch.get("cpu_time") or {}, ours.get("cpu_time") or {}
print(f"\nprocess CPU time (all threads; at THREADS=1 the load-independent cost):")
for key in targets:
    t, k = tc.get(key), oc.get(key)
    if t is None or k is None:
        continue
    print(f"{key:<26}{t:>10.1f}{k:>10.1f}{k / t:>8.2f}")
print(f"kneeclip build: {ours.get('build')}, device {ours.get('device')}, matrix kernel {ours.get('kernel')}")
PY
