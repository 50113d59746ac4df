# shellcheck shell=bash
# MediaMTX, built from its source for the comparisons only (never part of
# visiongate): MEDIAMTX_BIN names a binary to use as is; otherwise
# MEDIAMTX_SRC names a checkout, or the release below is cloned from
# GitHub into bench-cache/. Its go:generate steps download a version file
# and hls.js; they are replaced by the tag and the hls.js visiongate has.

MEDIAMTX_VERSION=${MEDIAMTX_VERSION:-v1.20.1}

# build_mediamtx: sets MTX_BIN, or dies saying how to provide it.
build_mediamtx() {
  if [ -n "${MEDIAMTX_BIN:-}" ]; then
    MTX_BIN=$MEDIAMTX_BIN
    return
  fi
  MTX_BIN="bench-cache/mediamtx-$MEDIAMTX_VERSION"
  [ -x "$MTX_BIN" ] && return
  local src=${MEDIAMTX_SRC:-bench-cache/mediamtx-src}
  if [ ! -d "$src" ]; then
    git clone -q --depth 1 --branch "$MEDIAMTX_VERSION" https://github.com/bluenviron/mediamtx "$src" ||
      die "cannot clone MediaMTX $MEDIAMTX_VERSION: set MEDIAMTX_SRC to a checkout or MEDIAMTX_BIN to a binary"
  fi
  echo "$MEDIAMTX_VERSION" >"$src/internal/core/VERSION"
  cp node_modules/hls.js/dist/hls.min.js "$src/internal/servers/hls/hls.min.js"
  log "building MediaMTX $MEDIAMTX_VERSION from $src (for the comparison only)"
  (cd "$src" && go build -o "$OLDPWD/$MTX_BIN" .) || die "building MediaMTX failed"
}
