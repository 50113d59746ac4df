# shellcheck shell=bash
# Helpers shared by the parts of scripts/bench: processes (start, stop, and
# stop everything on exit), the gateway (config, start, status), CPU of a
# process, and statistics. Sourced from the repository root.

OUT=bench-results
PY=/usr/bin/python3 # Debian's, where python3-flask and python3-opencv live
HZ=$(getconf CLK_TCK)
BG_PIDS=()

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }
calc() { awk "BEGIN{print $*}"; }
now() { date +%s.%N; }

# --- processes ---------------------------------------------------------

# bg_track PID: stop it when the script exits, however it exits.
bg_track() { BG_PIDS+=("$1"); }

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; forget it.
stop_pid() {
  local pid=$1 i keep=()
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  for i in "${BG_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
  BG_PIDS=("${keep[@]}")
}

stop_all() {
  local p
  for p in "${BG_PIDS[@]}"; do stop_pid "$p"; done
}

# cpu_of PID: user+system CPU seconds the process (all its threads) has used.
cpu_of() {
  local s
  s=$(<"/proc/$1/stat") || return 1
  awk -v hz="$HZ" '{print ($12 + $13) / hz}' <<<"${s##*) }" # fields after "pid (comm) "
}

# wait_file FILE SECONDS: wait for FILE to exist (bounded).
wait_file() {
  local i n
  n=$(calc "int($2 * 20)")
  for ((i = 0; i < n; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

# --- the gateway ---------------------------------------------------------

# gw_config FILE: a config on loopback with no UDP, local sources allowed
# and reader limits out of the way; gw_source appends sources.
gw_config() {
  cat >"$1" <<'EOF'
allow_local_sources: true
rtsp_rtp_address: "off"
rtsp_rtcp_address: "off"
rtmp: 127.0.0.1:0
srt: 127.0.0.1:0
webrtc: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}
limits: {readers_per_source: 500, http_connections: 5000, http_connections_per_address: -1, rtsp_connections: 5000, rtsp_connections_per_address: -1}
sources:
EOF
}

# gw_source FILE NAME URL [VISION [SETTING...]]  (VISION: YAML flow map, e.g.
# "{detector: people, fps: 5}", or ""; each SETTING one more line of the
# source, e.g. "on_demand: false")
gw_source() {
  printf '  - name: %s\n    url: "%s"\n' "$2" "$3" >>"$1"
  if [ -n "${4:-}" ]; then printf '    vision: %s\n' "$4" >>"$1"; fi
  if (($# > 4)); then printf '    %s\n' "${@:5}" >>"$1"; fi
}

# start_gateway CONFIG LOG: runs bin/visiongate on kernel-chosen loopback
# ports; sets VG_PID, VG_HTTP, VG_RTSP, and the publish listeners VG_RTMP
# and VG_SRT (empty when the config turns them off).
# shellcheck disable=SC2034 # the VG_* variables are read by the parts
start_gateway() {
  local cfg=$1 logf=$2 i line
  rm -f "$logf" # else the loop below can read the last run's address before the child truncates it
  ./bin/visiongate --config "$cfg" --http 127.0.0.1:0 --rtsp 127.0.0.1:0 >"$logf" 2>&1 &
  VG_PID=$!
  bg_track "$VG_PID"
  for ((i = 0; i < 150; i++)); do
    line=$(grep -s -m1 'msg="visiongate running"' "$logf" || true) # -s: the child may not have created it yet
    [ -n "$line" ] && break
    kill -0 "$VG_PID" 2>/dev/null || die "visiongate exited at start; see $logf"
    sleep 0.1
  done
  [ -n "$line" ] || die "visiongate did not start in 15 s; see $logf"
  VG_HTTP=$(grep -o 'http=[^ ]*' <<<"$line" | cut -d= -f2)
  VG_RTSP=$(grep -o 'rtsp=[^ ]*' <<<"$line" | cut -d= -f2)
  VG_RTMP=$(grep -o 'rtmp=[^ ]*' <<<"$line" | cut -d= -f2 | tr -d '"' || true) # rtmp="" when off
  VG_SRT=$(grep -o 'srt=[^ ]*' <<<"$line" | cut -d= -f2 | tr -d '"' || true)
}

stop_gateway() { stop_pid "$VG_PID"; }

# sources_status: one line per source: name state frames_out
# detections_per_sec frames_in encoder_running (1 or 0) (nothing, and status
# 1, when the API does not answer in 10 s). frames_out counts encoded
# frames, frames_in decoded ones (while nothing is decoded, packets read):
# a source that encodes on demand publishes nothing while nobody watches.
sources_status() {
  local body
  body=$(curl -sf --max-time 10 "http://$VG_HTTP/api/v1/sources") || return 1
  $PY -c '
import json, sys
for s in json.loads(sys.argv[1])["sources"]:
    print(s["name"], s["state"], s["frames_out"], s.get("detections_per_sec", 0), s.get("frames_in", 0),
          int(bool(s.get("encoder", {}).get("running"))))' "$body"
}

# sample_sources VAR: sources_status into VAR and the time it describes
# (the midpoint of the request) into VAR_T.
sample_sources() {
  local ta tb out
  ta=$(now)
  out=$(sources_status) || out=""
  tb=$(now)
  printf -v "$1" '%s' "$out"
  printf -v "${1}_T" '%s' "$(awk "BEGIN{printf \"%.6f\", ($ta + $tb) / 2}")"
}

# source_json NAME: the status of one source.
source_json() { curl -sf --max-time 5 "http://$VG_HTTP/api/v1/sources/$1"; }

# wait_running N SECONDS [COUNT]: wait until N sources run and have
# published frames (COUNT out, the default) or read them (COUNT in: what a
# source that encodes on demand does while nobody watches).
wait_running() {
  local n=$1 end=$(($(date +%s) + $2)) ok=0 st col=3
  [ "${3:-out}" = in ] && col=5
  while (($(date +%s) < end)); do
    if st=$(sources_status); then
      ok=$(awk -v c="$col" '$2 == "running" && $c > 0' <<<"$st" | wc -l)
      [ "$ok" -ge "$n" ] && return 0
    fi
    sleep 0.2
  done
  log "bench: only $ok of $n sources running after $2 s:"
  sources_status >&2 || log "bench: (the API did not answer in 10 s)"
  return 1
}

# --- ffmpeg ------------------------------------------------------------------

# ff_progress FILE ARG...: ffmpeg ARG... in the background, quiet, writing
# its progress (frame= every 0.1 s) to FILE; FF_PID is its pid.
ff_progress() {
  local prog=$1
  shift
  rm -f "$prog"
  ffmpeg -hide_banner -loglevel error -nostats -progress "$prog" -stats_period 0.1 "$@" &
  FF_PID=$!
  bg_track "$FF_PID"
}

# ff_frames FILE: the last frame= in an ffmpeg -progress file.
# Empty, not a failure, before ffmpeg has written one (a loaded machine):
# under pipefail a failing grep would end the whole bench.
ff_frames() { { grep -a '^frame=' "$1" 2>/dev/null || true; } | tail -1 | cut -d= -f2; }

# --- the helper program and inputs ----------------------------------------

build_tools() {
  make -s build >/dev/null
  PATH=$PATH:/usr/local/go/bin go build -o bin/vgbench ./cmd/vgbench
}

# The 1280x720 30 fps H.264 input of parts 1, 2 and 5 (10 s, looped).
make_clip720() {
  CLIP720="$OUT/720p30.mp4"
  [ -f "$CLIP720" ] || ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -t 10 -c:v libx264 -preset veryfast -g 30 -bf 0 -pix_fmt yuv420p -y "$CLIP720"
  CLIP720=$(realpath "$CLIP720")
}

# OpenCV's vtest.avi (768x576, 10 fps, pedestrians) for part 3.
find_vtest() {
  VTEST=$(find testdata-cache -name vtest.avi 2>/dev/null | head -1)
  if [ -z "$VTEST" ]; then
    scripts/testdata.sh >&2
    VTEST=$(find testdata-cache -name vtest.avi | head -1)
  fi
  [ -n "$VTEST" ] || die "vtest.avi not found (scripts/testdata.sh)"
  VTEST=$(realpath "$VTEST")
}

# --- statistics -------------------------------------------------------------

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR==0) print "null"; else print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
# spread: "lo–hi" of the values, with the given printf format (default %.3f).
spread() {
  local fmt=${SPREAD_FMT:-%.3f}
  printf '%s\n' "$@" | sort -g | awk -v f="$fmt" 'NR==1{lo=$1} {hi=$1} END{printf f "–" f, lo, hi}'
}
# jarr V...: a JSON array of numbers.
jarr() {
  local IFS=,
  echo "[$*]"
}
# jget FILE EXPR: a value from a JSON file, EXPR in Python over d.
jget() { $PY -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
