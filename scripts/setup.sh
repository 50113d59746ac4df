#!/usr/bin/env bash
# Installs what visiongate needs to build and run on Debian 12: FFmpeg and
# OpenCV development libraries, the ffmpeg CLI, OpenCV's Haar cascades, the
# Go modules, and the npm packages (hls.js, embedded in the web page;
# onnxruntime-node, whose libonnxruntime.so.1 runs ONNX models).
# `setup.sh --test` adds what only the tests need: Chromium and
# playwright-core for the browser test, mosquitto (a real MQTT broker) and
# python3-onnx (builds the test models). Safe to run again: it installs
# only what is missing.
set -euo pipefail

TEST=0
[ "${1:-}" = "--test" ] && TEST=1

APT_PACKAGES=(
  pkg-config gcc g++ make ca-certificates
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libavdevice-dev libavfilter-dev libswresample-dev
  libopencv-dev opencv-data libturbojpeg0-dev
)
if ((TEST)); then
  APT_PACKAGES+=(chromium fonts-dejavu-core mosquitto python3-onnx python3-numpy)
fi

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
# the binary (not committed); onnxruntime-node brings libonnxruntime.so.1
# (its install script, which downloads, never runs: .npmrc ignores
# scripts); playwright-core (tests only) drives Debian's chromium and never
# downloads a browser of its own.
if ! command -v npm >/dev/null || ! node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)'; then
  echo "setup: Node.js 20+ and npm are needed (for hls.js, ONNX Runtime and the browser test)" >&2
  exit 1
fi
npm_flags=(--no-audit --no-fund --loglevel=error --ignore-scripts)
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   { ((TEST)) && [ ! -d node_modules/playwright-core ]; }; then
  if ((TEST)); then
    echo "setup: npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci "${npm_flags[@]}"
  else
    echo "setup: npm ci --omit=dev"
    npm ci --omit=dev "${npm_flags[@]}"
  fi
fi
vendor=web/ui/static/vendor
mkdir -p "$vendor"
cmp -s node_modules/hls.js/dist/hls.min.js "$vendor/hls.min.js" ||
  cp node_modules/hls.js/dist/hls.min.js "$vendor/hls.min.js"

# ONNX Runtime's CPU library goes next to the binary, where it finds it.
ort=node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
mkdir -p bin
cmp -s "$ort" bin/libonnxruntime.so.1 || cp "$ort" bin/libonnxruntime.so.1
