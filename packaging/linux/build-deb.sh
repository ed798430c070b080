#!/bin/sh
# Wrap the PyInstaller onedir bundle (dist/dagsmith/) in an installable .deb: dist/dagsmith_VERSION_ARCH.deb.
#   /opt/dagsmith/                       the bundle, started in place (nothing is unpacked per launch)
#   /usr/bin/dagsmith                    -> /opt/dagsmith/dagsmith
#   /usr/share/applications/dagsmith.desktop, /usr/share/mime/packages/dagsmith.xml,
#   /usr/share/icons/hicolor/scalable/apps/dagsmith.svg
# Usage: packaging/linux/build-deb.sh BUNDLE_DIR VERSION OUT_DIR   (run from the repository root)
set -eu
bundle=$1 version=$2 out=$3
here=$(dirname "$0")
test -x "$bundle/dagsmith" || { echo "build-deb: no bundle at $bundle (run PyInstaller first)" >&2; exit 1; }
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
    "$root/usr/share/mime/packages" "$root/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$root/opt/dagsmith"
# Qt WebEngine's UI strings in 53 languages (44 MB): the app's pages are English, so keep en-US only
# (Chromium falls back to it for any locale).
locales="$root/opt/dagsmith/_internal/PyQt6/Qt6/translations/qtwebengine_locales"
if [ -d "$locales" ]; then
    find "$locales" -name '*.pak' ! -name 'en-US.pak' -delete
fi
# Qt's own UI translations (.qm, 7 MB) likewise.
find "$root/opt/dagsmith/_internal/PyQt6/Qt6/translations" -name '*.qm' -delete 2>/dev/null || true
# Debug symbols and symbol tables (109 unstripped libraries, among them libpython, uvloop, cryptography and
# PyQt6's bindings): gone, as dh_strip would; dynamic symbols stay (--strip-unneeded). With the .qm files,
# 576 -> 501 MB to compress.
# strip (binutils) complains about the few .so-named files that are not ELF and leaves them as they are.
find "$root/opt/dagsmith" -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-unneeded {} + 2>/dev/null || true
ln -s /opt/dagsmith/dagsmith "$root/usr/bin/dagsmith"
install -m 644 "$here/dagsmith.desktop" "$root/usr/share/applications/dagsmith.desktop"
install -m 644 "$here/dagsmith-mime.xml" "$root/usr/share/mime/packages/dagsmith.xml"
install -m 644 assets/dagsmith.svg "$root/usr/share/icons/hicolor/scalable/apps/dagsmith.svg"
install -m 755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
size=$(du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" > "$root/DEBIAN/control"
mkdir -p "$out"
deb="$out/dagsmith_${version}_${arch}.deb"
# xz at level 3 with all cores: 1.6-1.9x faster than level 6 here (measured at load ~11), and on the
# stripped bundle still under the 200 MB target (194.8 MB; level 6 on the unstripped one gave 198.2 MB).
dpkg-deb --root-owner-group -Zxz -z3 --threads-max="$(nproc)" --build "$root" "$deb" >/dev/null
echo "$deb"
