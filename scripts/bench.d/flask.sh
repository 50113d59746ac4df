# shellcheck shell=bash
# Part 3, against the usual alternative: the Flask + cv2 pattern
# (scripts/bench.d/flask_app.py: HOG people detection on every frame, JPEG
# quality 70, multipart, threaded=True) and visiongate's /mjpeg/NAME with
# `people` at 5/s, both on OpenCV's vtest.avi (768x576, 10 fps), with 1 and
# with 4 viewers. Viewers are `vgbench readers` (a separate process) counting
# multipart parts; CPU is the server process's CPU seconds over the same
# window (marked by the readers) divided by its length.
# The two sides do not run the detector alike, on purpose: each does what
# its pattern does by default. Flask runs HOG at the clip's full 768x576
# on every frame it serves, once per viewer; visiongate runs the same HOG
# people detector on a 640-wide copy 5 times a second, once for all
# viewers, and draws the latest boxes on every frame.

# Debian's Flask and OpenCV for Python, installed when missing.
flask_deps() {
  if $PY -c 'import cv2, flask' 2>/dev/null; then return 0; fi
  log "bench: installing python3-flask python3-opencv"
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    python3-flask python3-opencv >/dev/null
}

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# viewers_cpu PID URL N: N viewers for the window; sets V_FPS (median per
# viewer), V_MIN (slowest viewer), V_TOTAL and V_CPU (cores used).
viewers_cpu() {
  local pid=$1 url=$2 n=$3 marks c0 c1 t0 t1 res rpid
  marks=$(mktemp -d)
  bin/vgbench readers -mjpeg "$url" -mjpeg-n "$n" -warm 3s -window "${F_WIN}s" -marks "$marks" >"$OUT/flask-readers.json" &
  rpid=$!
  bg_track "$rpid"
  wait_file "$marks/start" 30 || die "part 3: viewers did not start"
  c0=$(cpu_of "$pid"); t0=$(now)
  wait_file "$marks/end" $((F_WIN + 30)) || die "part 3: viewers did not finish"
  c1=$(cpu_of "$pid"); t1=$(now)
  wait "$rpid" || die "part 3: viewers failed"
  stop_pid "$rpid"
  rm -rf "$marks"
  res="$OUT/flask-readers.json"
  V_FPS=$(jget "$res" 'd["mjpeg"]["fps_median"]')
  V_MIN=$(jget "$res" 'd["mjpeg"]["fps_min"]')
  V_TOTAL=$(jget "$res" 'd["mjpeg"]["fps_total"]')
  V_CPU=$(calc "($c1 - $c0) / ($t1 - $t0)")
  local err
  err=$(jget "$res" 'd["mjpeg"].get("first_error", "")')
  [ -z "$err" ] || log "bench: part 3 viewer error: $err"
}

flask_run() { # run index; appends to F_* arrays
  local port pid i
  port=$(free_port)
  $PY scripts/bench.d/flask_app.py --clip "$VTEST" --port "$port" >"$OUT/flask-app.log" 2>&1 &
  pid=$!
  bg_track "$pid"
  for ((i = 0; i < 100; i++)); do
    curl -sf --max-time 1 "http://127.0.0.1:$port/" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || die "part 3: flask app exited; see $OUT/flask-app.log"
    sleep 0.2
  done
  for n in 1 4; do
    viewers_cpu "$pid" "http://127.0.0.1:$port/video_feed" "$n"
    log "  flask, $n viewer(s): $V_FPS fps per viewer (slowest $V_MIN, total $V_TOTAL), CPU $(printf %.2f "$V_CPU") cores"
    F_FPS[flask$n]+=" $V_FPS"; F_MIN[flask$n]+=" $V_MIN"; F_CPU[flask$n]+=" $V_CPU"
    sleep 1 # let the last generators notice their viewers left
  done
  stop_pid "$pid"
}

vg_flask_run() {
  local cfg="$OUT/flask.yaml" n det
  gw_config "$cfg"
  gw_source "$cfg" clip "file://$VTEST" "{detector: people, fps: 5}"
  start_gateway "$cfg" "$OUT/flask-vg.log"
  wait_running 1 20 in || die "part 3: visiongate source did not start" # on demand: nothing encoded before a viewer
  sleep 2
  for n in 1 4; do
    viewers_cpu "$VG_PID" "http://$VG_HTTP/mjpeg/clip" "$n"
    det=$(source_json clip | $PY -c 'import json, sys; print(round(json.load(sys.stdin)["detections_per_sec"], 2))')
    log "  visiongate, $n viewer(s): $V_FPS fps per viewer (slowest $V_MIN, total $V_TOTAL), CPU $(printf %.2f "$V_CPU") cores, $det detections/s"
    F_FPS[vg$n]+=" $V_FPS"; F_MIN[vg$n]+=" $V_MIN"; F_CPU[vg$n]+=" $V_CPU"; F_DET[vg$n]+=" $det"
  done
  stop_gateway
}

part_flask() {
  F_WIN=${F_WIN:-$([ "$QUICK" = 1 ] && echo 6 || echo 10)}
  flask_deps
  find_vtest
  log "== part 3: Flask + cv2 vs visiongate MJPEG (${F_WIN}s windows, $RUNS runs)"
  declare -gA F_FPS=() F_MIN=() F_CPU=() F_DET=()
  local i k
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    flask_run
    vg_flask_run
  done
  # shellcheck disable=SC2086
  {
    echo "### 3. Against the usual alternative (Flask + cv2)"
    echo
    echo "OpenCV's vtest.avi (768x576, 10 fps): Flask + cv2 (HOG people detection on every frame, JPEG q70, multipart, threaded=True; the file is read as fast as the loop goes) vs visiongate /mjpeg with \`people\` at 5/s; ${F_WIN} s windows, median of $RUNS runs (spread). Target: visiongate gives every viewer the clip's 10 fps."
    echo
    echo "| server | viewers | fps per viewer (median viewer) | slowest viewer fps | CPU cores used |"
    echo "|---|---|---|---|---|"
    for k in flask1 flask4 vg1 vg4; do
      printf '| %s | %s | %s (%s) | %s | %.2f (%s) |\n' \
        "$([ "${k%?}" = flask ] && echo "Flask + cv2" || echo visiongate)" "${k: -1}" \
        "$(median ${F_FPS[$k]})" "$(SPREAD_FMT=%.1f spread ${F_FPS[$k]})" "$(median ${F_MIN[$k]})" \
        "$(median ${F_CPU[$k]})" "$(SPREAD_FMT=%.2f spread ${F_CPU[$k]})"
    done
    echo
    echo "visiongate ran $(median ${F_DET[vg1]}) people detections/s with 1 viewer (Flask: one per delivered frame)."
  } >"$OUT/flask.md"
  {
    printf '{"window_s":%s,"runs":%s' "$F_WIN" "$RUNS"
    for k in flask1 flask4 vg1 vg4; do
      printf ',"%s":{"fps_per_viewer":%s,"slowest_viewer_fps":%s,"cpu_cores":%s,"per_run":{"fps_per_viewer":%s,"cpu_cores":%s}}' \
        "$k" "$(median ${F_FPS[$k]})" "$(median ${F_MIN[$k]})" "$(median ${F_CPU[$k]})" \
        "$(jarr ${F_FPS[$k]})" "$(jarr ${F_CPU[$k]})"
    done
    printf ',"visiongate_detections_per_sec":%s}\n' "$(median ${F_DET[vg1]})"
  } >"$OUT/flask.json"
  cat "$OUT/flask.md" >&2
}
