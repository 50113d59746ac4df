#!/usr/bin/env bash
# Unpacks OpenCV's sample clips and images (vtest.avi, Megamind.avi,
# messi5.jpg, COCO class names) from Debian's opencv-doc package into
# testdata-cache/opencv (the package's tree), without installing it. Tests find them
# there (or under $VISIONGATE_TESTDATA).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=testdata-cache/opencv
if [ -n "$(find "$dest" -name vtest.avi 2>/dev/null | head -1)" ]; then
  exit 0
fi
mkdir -p testdata-cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  (cd "$tmp" && apt-get download opencv-doc >/dev/null)
}
rm -rf "$dest"
dpkg -x "$tmp"/opencv-doc_*.deb "$dest"
echo "testdata: $(find "$dest" -path '*examples/data*' -type f | wc -l) sample files under $dest"
