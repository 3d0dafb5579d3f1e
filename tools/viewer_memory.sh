#!/usr/bin/env bash
# Peak resident memory of the viewer with a full-size model: opens FILM in a
# real window under Xvfb with the heatmap on, waits for the grade, saves a
# screenshot and exits; GNU time reports the kneeclip process's peak RSS.
#   tools/viewer_memory.sh MODEL_DIR [FILM]
# MODEL_DIR holds config.json, model.safetensors and tokenizer.json (a random
# full-size one: tools/make_fixtures.py --full --out DIR, plus the tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:?usage: tools/viewer_memory.sh MODEL_DIR [FILM]}"
film="${2:-../shared/data/dicom/RG3_JPLL}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"
profile="${PROFILE:-debug}"
cargo build --quiet --bin kneeclip ${PROFILE:+--profile "$PROFILE"}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
xvfb-run -a -s "-screen 0 1600x1000x24" /usr/bin/time -f "%M" -o "$out/rss" \
  "$CARGO_TARGET_DIR/$profile/kneeclip" view --model-dir "$model" --heatmap --screenshot "$out/shot.png" "$film"
echo "viewer peak RSS: $(( $(cat "$out/rss") / 1024 )) MiB ($film, heatmap on, $profile build)"
