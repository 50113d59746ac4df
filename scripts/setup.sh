#!/usr/bin/env bash
# Installs what visiongate needs to build, run and test on Debian 12:
# FFmpeg and OpenCV development libraries, the ffmpeg CLI, OpenCV's Haar
# cascades, and the Go modules. Safe to run again: it installs only what is
# missing.
set -euo pipefail

APT_PACKAGES=(
  pkg-config gcc g++ make ca-certificates
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libavdevice-dev libavfilter-dev libswresample-dev
  libopencv-dev opencv-data
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
