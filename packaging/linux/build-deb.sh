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
ln -s /opt/dagsmith/dagsmith "$root/usr/bin/dagsmith"
install -m 644 "$here/dagsmith.desktop" "$root/usr/share/applications/dagsmith.desktop"
install -m 644 "$here/dagsmith-mime.xml" "$root/usr/share/mime/packages/dagsmith.xml"
install -m 644 assets/dagsmith.svg "$root/usr/share/icons/hicolor/scalable/apps/dagsmith.svg"
install -m 755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
size=$(du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" > "$root/DEBIAN/control"
mkdir -p "$out"
deb="$out/dagsmith_${version}_${arch}.deb"
# xz at level 6 with all cores: the bundle is mostly Qt WebEngine, which compresses about 3:1.
dpkg-deb --root-owner-group -Zxz -z6 --threads-max="$(nproc)" --build "$root" "$deb" >/dev/null
echo "$deb"
