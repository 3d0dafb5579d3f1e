#!/usr/bin/env bash
# Renders the application icon from its SVG into the PNG sizes desktops and
# installers use, plus a Windows .ico holding the PNGs up to 256 px:
#   assets/icons/kneeclip.svg -> assets/icons/png/kneeclip-{16..512}.png, assets/icons/kneeclip.ico
# Rendered with rsvg-convert (Debian: librsvg2-bin; committed PNGs: 2.54.7).
#   tools/render_icons.sh           render and write the files
#   tools/render_icons.sh --check   render into a temporary folder and compare with the committed files
set -euo pipefail
cd "$(dirname "$0")/.."

svg=assets/icons/kneeclip.svg
sizes=(16 32 48 64 128 256 512)
ico_sizes=(16 32 48 64 128 256)   # an .ico entry is at most 256 px

command -v rsvg-convert >/dev/null || { echo "render_icons: rsvg-convert is missing (apt install librsvg2-bin)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "render_icons: python3 is missing (it packs the .ico)" >&2; exit 2; }

check=false
[ "${1:-}" = "--check" ] && check=true
out=assets/icons
if $check; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out/png"

for size in "${sizes[@]}"; do
  rsvg-convert --width "$size" --height "$size" --keep-aspect-ratio --format png "$svg" --output "$out/png/kneeclip-$size.png"
done

# ICO with PNG-compressed entries (Windows Vista and later read these).
python3 - "$out" "${ico_sizes[@]}" <<'PY'
import struct, sys
out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
images = [open(f"{out}/png/kneeclip-{s}.png", "rb").read() for s in sizes]
header = struct.pack("<HHH", 0, 1, len(images))
offset = len(header) + 16 * len(images)
entries = b""
for size, data in zip(sizes, images):
    dim = 0 if size >= 256 else size   # 0 means 256
    entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
    offset += len(data)
open(f"{out}/kneeclip.ico", "wb").write(header + entries + b"".join(images))
PY

if $check; then
  status=0
  for file in png/kneeclip-{16,32,48,64,128,256,512}.png kneeclip.ico; do
    cmp -s "$out/$file" "assets/icons/$file" || { echo "render_icons: assets/icons/$file differs from a fresh render" >&2; status=1; }
  done
  [ $status = 0 ] && echo "render_icons: the committed icons match the SVG"
  exit $status
fi
echo "render_icons: wrote ${#sizes[@]} PNGs and kneeclip.ico under $out"
