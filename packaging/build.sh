#!/usr/bin/env bash
# Builds kneeclip's Linux packages: a .deb and an AppImage.
#
#   packaging/build.sh                 release build, then the .deb and the AppImage
#   packaging/build.sh --deb           only the .deb,      } from the dev-profile binary
#   packaging/build.sh --appimage      only the AppImage,  } already built by `cargo test`
#   packaging/build.sh --deb --appimage  both,             } (no release build: CI runs this)
#   options:  --binary PATH   package this binary instead
#             --out DIR       where packages go (default $CARGO_TARGET_DIR/packages)
#
# Both packages hold the same tree: the binary, its man page (kneeclip --print-man-page),
# the desktop entry, the icons, the MIME addition, the changelog and the licences. The
# .deb is assembled with dpkg-deb (Depends from dpkg-shlibdeps). The AppImage is that
# tree plus AppRun, as a squashfs (mksquashfs, from squashfs-tools) behind kneeclip's own
# runtime (packaging/appimage/runtime: it extracts once into ~/.cache instead of
# mounting with FUSE). Versions are Cargo.toml's.
# Each package's path is printed on its own line at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kneeclip-target}"

formats=()
dev_binary=false
binary=""
out="$CARGO_TARGET_DIR/packages"
while (($#)); do
  case "$1" in
    --deb) formats+=(deb); dev_binary=true ;;
    --appimage) formats+=(appimage); dev_binary=true ;;
    --binary) binary="${2:?--binary needs a path}"; shift ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

((${#formats[@]})) || formats=(deb appimage)
wants() { [[ " ${formats[*]} " == *" $1 "* ]]; }

say() { echo "build.sh: $*" >&2; }
if wants deb; then
  for tool in dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { say "$tool is missing: a .deb can only be built on Debian or Ubuntu"; exit 2; }
  done
fi
if wants appimage; then
  command -v mksquashfs >/dev/null || { say "mksquashfs is missing (apt install squashfs-tools): it builds the AppImage's image"; exit 2; }
fi

if [ -z "$binary" ]; then
  if $dev_binary; then
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
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Reproducible: file times from the last commit.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# stage ROOT: the installed tree (usr/...) that both packages ship.
stage() {
  local root=$1 doc="$1/usr/share/doc/kneeclip" png size file
  install -D -m 755 "$binary" "$root/usr/bin/kneeclip"
  # Symbols and line tables are for developers; the packages ship the bare program.
  command -v strip >/dev/null && strip --strip-unneeded "$root/usr/bin/kneeclip"
  install -D -m 644 packaging/linux/kneeclip.desktop "$root/usr/share/applications/kneeclip.desktop"
  install -D -m 644 packaging/linux/kneeclip-mime.xml "$root/usr/share/mime/packages/kneeclip.xml"
  for png in assets/icons/png/kneeclip-*.png; do
    size=${png##*-}; size=${size%.png}
    install -D -m 644 "$png" "$root/usr/share/icons/hicolor/${size}x${size}/apps/kneeclip.png"
  done
  install -D -m 644 assets/icons/kneeclip.svg "$root/usr/share/icons/hicolor/scalable/apps/kneeclip.svg"
  install -D -m 644 packaging/linux/copyright "$doc/copyright"
  # Debian policy: the changelog and man page gzipped with -9n (no name or time: reproducible).
  gzip -9n < CHANGELOG.md > "$work/changelog.gz"
  install -D -m 644 "$work/changelog.gz" "$doc/changelog.gz"
  # kneeclip(1) from the packaged binary itself, so it describes exactly its options.
  "$binary" --print-man-page > "$work/kneeclip.1" || { say "$binary --print-man-page failed (a binary older than this source? rebuild it)"; exit 1; }
  grep -q '^\.TH ' "$work/kneeclip.1" || { say "$binary --print-man-page printed no man page"; exit 1; }
  gzip -9n < "$work/kneeclip.1" > "$work/kneeclip.1.gz"
  install -D -m 644 "$work/kneeclip.1.gz" "$root/usr/share/man/man1/kneeclip.1.gz"
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
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$root/usr/share/applications/kneeclip.desktop"
  fi
}

# Sets every file time to SOURCE_DATE_EPOCH.
touch_tree() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

build_deb() {
  local arch depends recommends deb
  arch=$(dpkg --print-architecture)
  deb="$out/kneeclip_${version}_${arch}.deb"
  # dpkg-shlibdeps wants the package tree at debian/<package> beside debian/control.
  local root="$work/debian/kneeclip"
  mkdir -p "$root" && cp -a "$tree/." "$root/"

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
 the Kellgren-Lawrence scale (0-4) with CLIP ViT-B/32 and five editable
 clinical text anchors: the five grade probabilities, the film's similarity to
 each anchor, an attention heatmap, and PDF/PNG/JSON reports. It fine-tunes a
 head on your own graded films (kneeclip train); none is shipped. A desktop
 viewer and a command line (kneeclip grade). It is a decision aid, not a
 diagnosis and not a medical device. The base CLIP weights are downloaded on
 first use.
CONTROL
  touch_tree "$root"
  dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$deb" >&2
  say "Depends: $depends"
  packages+=("$deb")
}

build_appimage() {
  local machine appdir runtime image
  machine=$(uname -m)
  image="$out/kneeclip-${version}-${machine}.AppImage"
  appdir="$work/kneeclip.AppDir"
  mkdir -p "$appdir" && cp -a "$tree/." "$appdir/"
  # The AppDir's own entry points: AppRun, and the desktop entry and icon at its root.
  install -m 755 packaging/appimage/AppRun "$appdir/AppRun"
  cp packaging/linux/kneeclip.desktop "$appdir/kneeclip.desktop"
  cp assets/icons/png/kneeclip-256.png "$appdir/kneeclip.png"
  ln -s kneeclip.png "$appdir/.DirIcon"
  # No libraries are bundled: the binary links only glibc, libgcc and libstdc++, and the
  # window-system and GPU libraries it opens at run time must be the host's own.
  touch_tree "$appdir"

  cargo build --release --locked --manifest-path packaging/appimage/runtime/Cargo.toml >&2
  runtime="$work/runtime"
  cp "$CARGO_TARGET_DIR/release/kneeclip-appimage-runtime" "$runtime"
  # The AppImage type 2 magic, in the ELF header's padding at byte 8.
  printf 'AI\002' | dd of="$runtime" bs=1 seek=8 conv=notrunc status=none

  mksquashfs "$appdir" "$work/image.squashfs" -comp gzip -root-owned -noappend -quiet -no-progress >&2
  # Written beside the target, then renamed: never a half-written AppImage under its name.
  cat "$runtime" "$work/image.squashfs" > "$image.partial"
  chmod 755 "$image.partial"
  mv -f "$image.partial" "$image"
  packages+=("$image")
}

# Staged once (strip, crate list), copied into each package.
tree="$work/tree"
stage "$tree"
packages=()
wants deb && build_deb
wants appimage && build_appimage
printf '%s\n' "${packages[@]}"
