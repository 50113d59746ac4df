#!/usr/bin/env bash
# Installs what visiongate needs to build, run and test on Debian 12:
# FFmpeg and OpenCV development libraries, the ffmpeg CLI, OpenCV's Haar
# cascades, Chromium for the browser test, the Go modules, and the npm
# packages (hls.js, embedded in the web page; playwright-core, which drives
# Chromium). Safe to run again: it installs only what is missing.
set -euo pipefail

APT_PACKAGES=(
  pkg-config gcc g++ make ca-certificates
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libavdevice-dev libavfilter-dev libswresample-dev
  libopencv-dev opencv-data
  chromium fonts-dejavu-core
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  echo "setup: Go is not on PATH (need Go 1.26; /usr/local/go/bin?)" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
go mod download

# npm packages: hls.js is copied next to the page so go:embed takes it into
# the binary (not committed); playwright-core drives Debian's chromium and
# never downloads a browser of its own.
if ! command -v npm >/dev/null || ! node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)'; then
  echo "setup: Node.js 20+ and npm are needed (for hls.js and the browser test)" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
vendor=web/ui/static/vendor
mkdir -p "$vendor"
cmp -s node_modules/hls.js/dist/hls.min.js "$vendor/hls.min.js" ||
  cp node_modules/hls.js/dist/hls.min.js "$vendor/hls.min.js"
