#!/usr/bin/env bash
# Opens the real viewer window under Xvfb on a real DICOM with the tiny test
# model, waits for the grade, saves the window as a PNG and checks it is the
# window's size and not blank.
#   tools/screenshot.sh [OUT.png]     (default: target/screenshot.png)
# KNEECLIP_BIN=PATH runs that program (the installed one, an AppImage) instead of
# the dev build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"
out="${1:-$CARGO_TARGET_DIR/screenshot.png}"
film=../shared/data/dicom/RG2_JPLL
tokenizer=../shared/models/clip-vit-base-patch32/tokenizer.json
want_w=1400 want_h=900   # the viewer's inner size (src/cli/view.rs)

need=()
command -v xvfb-run >/dev/null 2>&1 || need+=(xvfb)
command -v identify >/dev/null 2>&1 || need+=(imagemagick)
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
dpkg -s libgl1-mesa-dri >/dev/null 2>&1 || need+=(libgl1-mesa-dri)
command -v xdpyinfo >/dev/null 2>&1 || need+=(x11-apps x11-utils)
if ((${#need[@]})); then
  echo "screenshot: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -f "$film" ] || [ ! -f "$tokenizer" ]; then
  echo "screenshot: skipped: $film or $tokenizer is missing" >&2
  exit 0
fi

model=$(mktemp -d)
trap 'rm -rf "$model"' EXIT
cp tests/fixtures/tiny-clip/config.json tests/fixtures/tiny-clip/model.safetensors "$tokenizer" "$model/"

bin="${KNEECLIP_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --locked --quiet --bin kneeclip
  bin="$CARGO_TARGET_DIR/debug/kneeclip"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
rm -f "$out"
timeout 300 xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$bin" view --model-dir "$model" --screenshot "$out" "$film"

size=$(identify -format '%w %h' "$out")
[ "$size" = "$want_w $want_h" ] || { echo "screenshot: $out is $size, expected $want_w $want_h" >&2; exit 1; }
sd=$(convert "$out" -colorspace Gray -format '%[fx:standard_deviation]' info:)
awk -v sd="$sd" 'BEGIN { exit !(sd > 0.02) }' || { echo "screenshot: $out looks blank (sd $sd)" >&2; exit 1; }
echo "screenshot: $out ($size, gray sd $sd)"
