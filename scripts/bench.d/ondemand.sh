# shellcheck shell=bash
# Part 7, encoding on demand: what a camera costs while nobody watches, and
# how long a new viewer then waits. One plain bench camera (`vgbench
# camera`: a 1280x720 30 fps H.264 clip looped over RTSP/TCP, every frame
# sent, any number of readers) feeds everything, in its own process so its
# cost falls on both sides alike. Each run, side by side:
#  - idle cost: visiongate with one source of the camera, `vision:
#    {detector: motion, fps: 5}`, nobody watching, with on_demand true (the
#    default: decoded for the detector, nothing encoded) and false (encoded
#    for nobody, as before on demand), and `ffmpeg -rtsp_transport tcp -i
#    URL -an -f null -` (decode only); cores = a process's CPU seconds over
#    the window / the window's length; ratios to ffmpeg run by run; the
#    order of the three rotates run by run;
#  - cameras per machine: part 2's search (capacity.sh) with N such sources
#    (on_demand true, motion 5/s, nobody watching; a source's rate is
#    frames_in, the frames it decoded, and the step also needs a median of
#    4.5 detections/s) against N ffmpeg decodes;
#  - first frame: after each idle window, new readers of that visiongate
#    (`vgbench firstframe`, a process per try) time their first request to
#    their first decoded picture, RTSP then LL-HLS. With on_demand true each
#    try first waits for the encoder to stop (status encoder.running: the
#    hub's 10 s grace after the last reader, after LL-HLS also the muxer's
#    idle time), so every try is a cold start; with false it runs already.

OD_VISION="{detector: motion, fps: 5}"

# od_clip: the camera's clip, Annex B with an AUD before every frame (what
# vgbench's camera reads), otherwise made like part 1's.
od_clip() {
  OD_CLIP="$OUT/ondemand-cam.h264"
  [ -f "$OD_CLIP" ] || ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -t 10 -c:v libx264 -preset veryfast -g 30 -bf 0 -pix_fmt yuv420p -x264-params aud=1 -f h264 -y "$OD_CLIP"
}

# od_camera: starts the camera for the whole part; sets OD_CAM_URL.
od_camera() {
  local f="$OUT/ondemand-cam.url" pid
  rm -f "$f"
  bin/vgbench camera -clip "$OD_CLIP" -url-file "$f" >/dev/null 2>"$OUT/ondemand-cam.log" &
  pid=$!
  bg_track "$pid"
  OD_CAM_PID=$pid
  wait_file "$f" 10 || die "part 7: the bench camera did not start; see $OUT/ondemand-cam.log"
  OD_CAM_URL=$(<"$f")
}

# od_window PID: that process's cores over OD_WIN seconds; sets OD_CORES.
od_window() {
  local c0 c1 t0 t1
  c0=$(cpu_of "$1"); t0=$(now)
  sleep "$OD_WIN"
  c1=$(cpu_of "$1"); t1=$(now)
  OD_CORES=$(calc "($c1 - $c0) / ($t1 - $t0)")
}

# od_encoder: "1" when the source's encoder runs, "0" when not, empty when
# the API did not answer (not a failure that would end the bench).
od_encoder() { { sources_status || true; } | awk '$1 == "cam" {print $6}'; }

# od_wait_encoder STATE SECONDS: wait until the encoder's state is STATE.
od_wait_encoder() {
  local end=$(($(date +%s) + $2))
  while (($(date +%s) < end)); do
    [ "$(od_encoder)" = "$1" ] && return 0
    sleep 0.5
  done
  return 1
}

# od_vg ONDEMAND: starts a visiongate with the one source and measures it
# while nobody watches; sets OD_CORES and OD_NOTE and leaves it running for
# the first-frame tries.
od_vg() {
  local od=$1 cfg="$OUT/ondemand.yaml" s0 s1 s0_T s1_T enc0 enc1
  gw_config "$cfg"
  gw_source "$cfg" cam "$OD_CAM_URL" "$OD_VISION" "transport: tcp" "on_demand: $od"
  start_gateway "$cfg" "$OUT/ondemand-vg.log"
  wait_running 1 20 in || die "part 7: source did not start (on_demand $od)"
  sleep "$OD_WARM"
  enc0=$(od_encoder); sample_sources s0
  od_window "$VG_PID"
  enc1=$(od_encoder); sample_sources s1
  # what the source did meanwhile: decoded frames a second, detections a
  # second, and whether the encoder ran (it must not, on demand)
  OD_NOTE=$(awk -v dt="$(calc "$s1_T - $s0_T")" -v e="$enc0$enc1" 'NR == FNR { f = $5; next }
    { printf "decoded %.1f fps, %s detections/s, encoder %s", ($5 - f) / dt, $4, (e == "00") ? "off" : "ON" }' \
    <(echo "$s0") <(echo "$s1"))
}

# od_ffmpeg: the ffmpeg CLI decoding the camera, nobody else; sets OD_CORES
# and OD_NOTE.
od_ffmpeg() {
  local pid prog="$OUT/ondemand-ff.progress" f0 f1 t0 t1
  ff_progress "$prog" -rtsp_transport tcp -i "$OD_CAM_URL" -an -f null - 2>/dev/null
  pid=$FF_PID
  sleep "$OD_WARM"
  f0=$(ff_frames "$prog"); t0=$(now)
  od_window "$pid"
  f1=$(ff_frames "$prog"); t1=$(now)
  stop_pid "$pid"
  OD_NOTE=$(printf 'decoded %.1f fps' "$(calc "(${f1:-0} - ${f0:-0}) / ($t1 - $t0)")")
}

# od_tries ONDEMAND: OD_TRIES new RTSP readers, then LL-HLS readers, each
# timed to its first decoded picture; appends to OD_FF[KIND-ONDEMAND].
od_tries() {
  local od=$1 kind url t ms
  for kind in rtsp hls; do
    url="rtsp://$VG_RTSP/cam"
    [ "$kind" = hls ] && url="http://$VG_HTTP/hls/cam/index.m3u8"
    for ((t = 1; t <= OD_TRIES; t++)); do
      if [ "$od" = true ]; then # a cold start: the last reader's encoder has stopped
        od_wait_encoder 0 60 || die "part 7: the encoder still ran 60 s after the last reader"
      fi
      ms=$(bin/vgbench firstframe "-$kind" "$url" | jget /dev/stdin 'd["first_frame_ms"]') ||
        die "part 7: vgbench firstframe -$kind failed (on_demand $od)"
      OD_FF[$kind-$od]+=" $ms"
    done
    log "    first frame, new $kind reader, on_demand $od:${OD_FF[$kind-$od]} ms (all runs so far)"
  done
}

# od_idle_run RUN: the three idle measurements, in an order that rotates
# with the run number; sets OD_RUN[true|false|ffmpeg] (cores).
od_idle_run() {
  local order=(true false ffmpeg) j k
  for ((j = 0; j < 3; j++)); do
    k=${order[($1 - 1 + j) % 3]}
    if [ "$k" = ffmpeg ]; then od_ffmpeg; else od_vg "$k"; fi
    OD_RUN[$k]=$OD_CORES
    log "  idle, $([ "$k" = ffmpeg ] && echo "ffmpeg decode" || echo "visiongate on_demand $k"): $(printf %.3f "$OD_CORES") cores ($OD_NOTE)"
    [ "$k" = ffmpeg ] && continue
    od_tries "$k" # the same gateway, now that its idle window is over
    stop_gateway
  done
}

# od_capacity_run RUN: part 2's search on the camera, visiongate (motion,
# on demand, counted by decoded frames) and ffmpeg decodes; sets OD_CAP_VG,
# OD_CAP_FF (kept as the next run's starting points) and OD_CAP_DET.
od_capacity_run() {
  # shellcheck disable=SC2034 # read by capacity.sh's cap_step_vg and cap_step_ff
  # a camera counts when it is decoded at full rate and its detector gets
  # 90% of the 5/s asked: a starved detector is not a camera handled
  local CAP_NAME=ondemand-cap CAP_URL=$OD_CAM_URL CAP_COUNT=in CAP_MIN_DET=4.5
  # shellcheck disable=SC2034
  local -a CAP_SETTINGS=("transport: tcp" "on_demand: true") CAP_FF=(-rtsp_transport tcp -i "$OD_CAM_URL" -an -f null -)
  CAP_DET=()
  if (($1 % 2)); then
    cap_search motion "$OD_CAP_VG"; OD_CAP_VG=$CAP_RESULT
    cap_search ffmpeg "$OD_CAP_FF"; OD_CAP_FF=$CAP_RESULT
  else # the other first, so neither always runs last
    cap_search ffmpeg "$OD_CAP_FF"; OD_CAP_FF=$CAP_RESULT
    cap_search motion "$OD_CAP_VG"; OD_CAP_VG=$CAP_RESULT
  fi
  OD_CAP_DET=${CAP_DET[$OD_CAP_VG]:-0}
}

part_ondemand() {
  OD_WIN=${OD_WIN:-$([ "$QUICK" = 1 ] && echo 8 || echo 15)}
  OD_WARM=${OD_WARM:-3}
  OD_TRIES=${OD_TRIES:-3}
  CAP_WARM=${CAP_WARM:-3}
  CAP_WIN=${CAP_WIN:-$([ "$QUICK" = 1 ] && echo 5 || echo 8)}
  # a decode alone costs a fraction of part 2's transcode: allow more
  # cameras (capacity.sh's cap_search reads it)
  # shellcheck disable=SC2034
  local CAP_MAX=${OD_CAP_MAX:-$((24 * $(nproc)))}
  log "== part 7: encoding on demand (${OD_WIN}s idle windows, $OD_TRIES first-frame tries per reader and mode, ${CAP_WIN}s capacity windows, $RUNS runs)"
  declare -gA OD_RUN=() OD_FF=() CAP_DET=()
  OD_CAP_VG=0 OD_CAP_FF=0
  local i
  OD_ON=() OD_OFF=() OD_FFM=() OD_R_ON=() OD_R_OFF=() OD_CVG=() OD_CFF=() OD_CR=() OD_CDET=()
  od_clip
  od_camera
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    od_idle_run "$i"
    OD_ON+=("${OD_RUN[true]}"); OD_OFF+=("${OD_RUN[false]}"); OD_FFM+=("${OD_RUN[ffmpeg]}")
    OD_R_ON+=("$(calc "${OD_RUN[true]} / ${OD_RUN[ffmpeg]}")"); OD_R_OFF+=("$(calc "${OD_RUN[false]} / ${OD_RUN[ffmpeg]}")")
    od_capacity_run "$i"
    OD_CVG+=("$OD_CAP_VG"); OD_CFF+=("$OD_CAP_FF"); OD_CDET+=("$OD_CAP_DET")
    OD_CR+=("$(calc "($OD_CAP_FF > 0) ? $OD_CAP_VG / $OD_CAP_FF : 0")")
    log " run $i: idle on_demand/ffmpeg $(printf %.2f "${OD_R_ON[-1]}") (always on $(printf %.2f "${OD_R_OFF[-1]}")); cameras $OD_CAP_VG vs ffmpeg $OD_CAP_FF"
  done
  stop_pid "$OD_CAM_PID"
  od_report
}

# od_ms KIND ONDEMAND: "median (lo–hi)" of the first-frame tries.
# shellcheck disable=SC2086 # the tries are a space-separated list
od_ms() { printf '%.0f (%s)' "$(median ${OD_FF[$1-$2]})" "$(SPREAD_FMT=%.0f spread ${OD_FF[$1-$2]})"; }

od_report() {
  local n=$((RUNS * OD_TRIES))
  {
    echo "### 7. Encoding on demand"
    echo
    echo "One bench camera (1280x720 30 fps H.264 over RTSP/TCP) and a visiongate source of it with \`vision: $OD_VISION\`, nobody watching. Median of $RUNS runs (spread); ratios run by run."
    echo
    echo "Idle cost, CPU cores over ${OD_WIN} s windows. Target: on_demand true ≤ 1.5 × ffmpeg decoding the same camera."
    echo
    echo "| process | CPU cores | ratio to ffmpeg |"
    echo "|---|---|---|"
    printf '| visiongate, on_demand true (default) | %.3f (%s) | %.2f (%s) |\n' "$(median "${OD_ON[@]}")" "$(spread "${OD_ON[@]}")" \
      "$(median "${OD_R_ON[@]}")" "$(SPREAD_FMT=%.2f spread "${OD_R_ON[@]}")"
    printf '| visiongate, on_demand false (always encoding) | %.3f (%s) | %.2f (%s) |\n' "$(median "${OD_OFF[@]}")" "$(spread "${OD_OFF[@]}")" \
      "$(median "${OD_R_OFF[@]}")" "$(SPREAD_FMT=%.2f spread "${OD_R_OFF[@]}")"
    # shellcheck disable=SC2016 # backticks for Markdown
    printf '| ffmpeg CLI, `-rtsp_transport tcp -i URL -an -f null -` | %.3f (%s) | 1 |\n' "$(median "${OD_FFM[@]}")" "$(spread "${OD_FFM[@]}")"
    echo
    echo "Cameras per machine: part 2's search, each camera decoded at ≥ $CAP_MIN_FPS fps over ${CAP_WIN} s (visiongate: on_demand true, motion 5/s with a median ≥ 4.5 detections/s, nobody watching). Target: ≥ 90% of ffmpeg's count."
    echo
    echo "| cameras | visiongate | ffmpeg CLI, one decode per camera | ratio |"
    echo "|---|---|---|---|"
    printf '| count (median, spread) | %s (%s) | %s (%s) | %.2f (%s) |\n' \
      "$(median "${OD_CVG[@]}")" "$(SPREAD_FMT=%d spread "${OD_CVG[@]}")" "$(median "${OD_CFF[@]}")" \
      "$(SPREAD_FMT=%d spread "${OD_CFF[@]}")" "$(median "${OD_CR[@]}")" "$(SPREAD_FMT=%.2f spread "${OD_CR[@]}")"
    echo
    echo "First decoded picture of a new reader, ms from its first request (median of $n tries, spread; on_demand true: each a cold start, the encoder stopped). Target: < 1000 ms."
    echo
    echo "| reader | on_demand true | on_demand false |"
    echo "|---|---|---|"
    printf '| RTSP (TCP) | %s | %s |\n' "$(od_ms rtsp true)" "$(od_ms rtsp false)"
    printf '| LL-HLS (playlist, init, parts from the last independent one) | %s | %s |\n' "$(od_ms hls true)" "$(od_ms hls false)"
  } >"$OUT/ondemand.md"
  od_json >"$OUT/ondemand.json"
  cat "$OUT/ondemand.md" >&2
}

# shellcheck disable=SC2086 # the tries are space-separated lists
od_json() {
  printf '{"window_s":%s,"runs":%s,"tries_per_run":%s,"capacity_window_s":%s' "$OD_WIN" "$RUNS" "$OD_TRIES" "$CAP_WIN"
  printf ',"idle_cores":{"on_demand":%s,"always_on":%s,"ffmpeg":%s},"idle_ratio_on_demand":%s,"idle_ratio_always_on":%s' \
    "$(median "${OD_ON[@]}")" "$(median "${OD_OFF[@]}")" "$(median "${OD_FFM[@]}")" "$(median "${OD_R_ON[@]}")" "$(median "${OD_R_OFF[@]}")"
  printf ',"cameras":{"visiongate":%s,"ffmpeg":%s,"ratio":%s,"detections_per_sec":%s}' \
    "$(median "${OD_CVG[@]}")" "$(median "${OD_CFF[@]}")" "$(median "${OD_CR[@]}")" "$(median "${OD_CDET[@]}")"
  printf ',"first_frame_ms":{"rtsp_on_demand":%s,"rtsp_always_on":%s,"hls_on_demand":%s,"hls_always_on":%s}' \
    "$(median ${OD_FF[rtsp-true]})" "$(median ${OD_FF[rtsp-false]})" "$(median ${OD_FF[hls-true]})" "$(median ${OD_FF[hls-false]})"
  printf ',"per_run":{"on_demand":%s,"always_on":%s,"ffmpeg":%s,"ratio_on_demand":%s,"ratio_always_on":%s,"cameras_visiongate":%s,"cameras_ffmpeg":%s,"cameras_ratio":%s}' \
    "$(jarr "${OD_ON[@]}")" "$(jarr "${OD_OFF[@]}")" "$(jarr "${OD_FFM[@]}")" "$(jarr "${OD_R_ON[@]}")" "$(jarr "${OD_R_OFF[@]}")" \
    "$(jarr "${OD_CVG[@]}")" "$(jarr "${OD_CFF[@]}")" "$(jarr "${OD_CR[@]}")"
  printf ',"first_frame_tries_ms":{"rtsp_on_demand":%s,"rtsp_always_on":%s,"hls_on_demand":%s,"hls_always_on":%s}}\n' \
    "$(jarr ${OD_FF[rtsp-true]})" "$(jarr ${OD_FF[rtsp-false]})" "$(jarr ${OD_FF[hls-true]})" "$(jarr ${OD_FF[hls-false]})"
}
