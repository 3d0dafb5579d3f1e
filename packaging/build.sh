#!/usr/bin/env bash
# Builds kneeclip's Linux packages.
#
#   packaging/build.sh                 release build, then the .deb; with cargo-packager
#                                      installed also its AppImage (and .deb)
#   packaging/build.sh --deb           only the .deb, from the dev-profile binary already
#                                      built by `cargo test` / `cargo build` (no release
#                                      build: this is what CI runs)
#   options:  --binary PATH   package this binary instead
#             --out DIR       where packages go (default $CARGO_TARGET_DIR/packages)
#
# The .deb is assembled with dpkg-deb: the binary, the desktop entry, the icons,
# the MIME addition and the licences. Its version is Cargo.toml's. The last line
# printed is the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"

deb_only=false
binary=""
out="$CARGO_TARGET_DIR/packages"
while (($#)); do
  case "$1" in
    --deb) deb_only=true ;;
    --binary) binary="${2:?--binary needs a path}"; shift ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "build.sh: $*" >&2; }
for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { say "$tool is missing: a .deb can only be built on Debian or Ubuntu"; exit 2; }
done

if [ -z "$binary" ]; then
  if $deb_only; then
    binary="$CARGO_TARGET_DIR/debug/kneeclip"
    # Normally already there from the test build; otherwise an incremental dev build.
    [ -x "$binary" ] || cargo build --locked --bin kneeclip >&2
  else
    cargo build --release --locked --bin kneeclip >&2
    binary="$CARGO_TARGET_DIR/release/kneeclip"
  fi
fi
[ -x "$binary" ] || { say "$binary is not an executable"; exit 2; }

version=$(cargo pkgid --offline 2>/dev/null || cargo pkgid)
version=${version##*[#@]}
arch=$(dpkg --print-architecture)
mkdir -p "$out"
deb="$out/kneeclip_${version}_${arch}.deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# dpkg-shlibdeps wants the package tree at debian/<package> beside debian/control.
root="$work/debian/kneeclip"
doc="$root/usr/share/doc/kneeclip"

install -D -m 755 "$binary" "$root/usr/bin/kneeclip"
# Symbols and line tables are for developers; the package ships the bare program.
command -v strip >/dev/null && strip --strip-unneeded "$root/usr/bin/kneeclip"
install -D -m 644 packaging/linux/kneeclip.desktop "$root/usr/share/applications/kneeclip.desktop"
install -D -m 644 packaging/linux/kneeclip-mime.xml "$root/usr/share/mime/packages/kneeclip.xml"
for png in assets/icons/png/kneeclip-*.png; do
  size=${png##*-}; size=${size%.png}
  install -D -m 644 "$png" "$root/usr/share/icons/hicolor/${size}x${size}/apps/kneeclip.png"
done
install -D -m 644 assets/icons/kneeclip.svg "$root/usr/share/icons/hicolor/scalable/apps/kneeclip.svg"
install -D -m 644 packaging/linux/copyright "$doc/copyright"
install -D -m 644 assets/fonts/OFL.txt "$doc/licenses/OFL-1.1-Cantarell.txt"
for file in packaging/licenses/egui-fonts/*; do
  install -D -m 644 "$file" "$doc/licenses/egui-fonts/$(basename "$file")"
done
# Every crate compiled into the binary, with its licence (normal and build dependencies).
{
  echo "Rust crates compiled into /usr/bin/kneeclip (name version licence), from Cargo.lock:"
  cargo tree --locked --offline -e normal,build --prefix none --format '{p} | {l}' 2>/dev/null \
    || cargo tree --locked -e normal,build --prefix none --format '{p} | {l}'
} | sed -e 's/ (\*)//' -e 's/ (proc-macro)//' -e 's| (/[^)]*)||' | awk 'NR == 1 || !seen[$0]++' > "$doc/third-party-crates.txt"
[ "$(wc -l < "$doc/third-party-crates.txt")" -gt 50 ] || { say "the crate list is incomplete (cargo tree failed?)"; exit 1; }

# Depends: the shared libraries the binary links to, as dpkg-shlibdeps finds
# them; the committed list otherwise.
depends=""
if command -v dpkg-shlibdeps >/dev/null; then
  printf 'Source: kneeclip\n\nPackage: kneeclip\nArchitecture: any\n' > "$work/debian/control"
  depends=$(cd "$work" && dpkg-shlibdeps -O "debian/kneeclip/usr/bin/kneeclip" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
fi
if [ -z "$depends" ]; then
  say "dpkg-shlibdeps is missing (apt install dpkg-dev): Depends from packaging/linux/depends"
  depends=$(paste -sd, packaging/linux/depends | sed 's/,/, /g')
fi
recommends=$(grep -v '^#' packaging/linux/recommends | paste -sd, | sed 's/,/, /g')
rm -f "$work/debian/control"

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: kneeclip
Version: $version
Section: science
Priority: optional
Architecture: $arch
Maintainer: ${KNEECLIP_MAINTAINER:-kneeclip developers <kneeclip@localhost>}
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: $recommends
Description: knee osteoarthritis (Kellgren-Lawrence) grading on radiographs
 kneeclip reads a knee film (PNG, JPEG, TIFF, BMP or DICOM) and grades it on
 the Kellgren-Lawrence scale (0-4) with a fine-tuned CLIP ViT-B/32: the five
 grade probabilities, the film's similarity to five editable clinical text
 anchors, an attention heatmap, and PDF/PNG/JSON reports. A desktop viewer and
 a command line (kneeclip grade). It is a decision aid, not a diagnosis and not
 a medical device. The model weights are downloaded on first use.
CONTROL

# Reproducible: file times from the last commit.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/usr/share/applications/kneeclip.desktop"
fi
dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$deb" >&2
say "Depends: $depends"
$deb_only || ! command -v cargo-packager >/dev/null || {
  # cargo-packager (config: [package.metadata.packager] in Cargo.toml) for the
  # AppImage; it downloads linuxdeploy, so it needs the network.
  cargo packager --release --formats deb,appimage --out-dir "$out" >&2 || say "cargo-packager failed; the .deb above is complete"
}
echo "$deb"
