# shellcheck shell=bash
# Part 1, transcode efficiency: CPU seconds per output frame of visiongate
# decoding and re-encoding a 1280x720 30 fps H.264 source (vision off) next
# to the ffmpeg CLI doing the same decode + libx264 encode with the same
# settings on the same input, both paced at real time, one after the other
# in each run. visiongate's frames come from its status (frames_out),
# ffmpeg's from its -progress reports. The source is `on_demand: false`:
# nobody watches, and on demand nothing would be encoded. Work visiongate
# does here that the ffmpeg line does not: its hub, status and metrics,
# and the RTSP packetizer (part 9 adds a reader).

# The ffmpeg CLI's equivalent of visiongate's default encoder settings.
FF_X264=(-c:v libx264 -preset veryfast -tune zerolatency -crf 23 -g 30 -bf 0 -sc_threshold 0)

transcode_vg() { # sets T_CPU T_FRAMES
  local cfg="$OUT/transcode.yaml" f0 f1 c0 c1
  gw_config "$cfg"
  gw_source "$cfg" cam "file://$CLIP720" "" "on_demand: false"
  start_gateway "$cfg" "$OUT/transcode-vg.log"
  wait_running 1 15 || die "part 1: source did not start"
  sleep 2 # warm up; the window below is steady state
  c0=$(cpu_of "$VG_PID"); f0=$(sources_status | awk '{print $3}')
  sleep "$T_SECS"
  c1=$(cpu_of "$VG_PID"); f1=$(sources_status | awk '{print $3}')
  stop_gateway
  T_CPU=$(calc "$c1 - $c0"); T_FRAMES=$((f1 - f0))
}

transcode_ff() { # sets T_CPU T_FRAMES
  local pid c0 c1 f0 f1 prog="$OUT/transcode-ff.progress"
  ff_progress "$prog" -re -stream_loop -1 -i "$CLIP720" -an "${FF_X264[@]}" -f null - 2>/dev/null
  pid=$FF_PID
  sleep 2
  c0=$(cpu_of "$pid"); f0=$(ff_frames "$prog")
  sleep "$T_SECS"
  c1=$(cpu_of "$pid"); f1=$(ff_frames "$prog")
  stop_pid "$pid"
  T_CPU=$(calc "$c1 - $c0"); T_FRAMES=$((${f1:-0} - ${f0:-0}))
  ((T_FRAMES > 0)) || die "part 1: ffmpeg reported no frames; see $prog"
}

part_transcode() {
  T_SECS=${T_SECS:-$([ "$QUICK" = 1 ] && echo 8 || echo 20)}
  local i v f ratios=() vg=() ff=()
  log "== part 1: transcode efficiency (${T_SECS}s windows, $RUNS runs)"
  for ((i = 1; i <= RUNS; i++)); do
    transcode_vg; v=$(calc "$T_CPU / $T_FRAMES * 1000"); local vf=$T_FRAMES
    transcode_ff; f=$(calc "$T_CPU / $T_FRAMES * 1000")
    vg+=("$v"); ff+=("$f"); ratios+=("$(calc "$v / $f")")
    log "$(printf 'run %d: visiongate %.2f ms CPU/frame (%d frames), ffmpeg %.2f ms CPU/frame (%d frames), ratio %.3f' \
      "$i" "$v" "$vf" "$f" "$T_FRAMES" "${ratios[-1]}")"
  done
  local mv mf mr
  mv=$(median "${vg[@]}"); mf=$(median "${ff[@]}"); mr=$(median "${ratios[@]}")
  {
    echo "### 1. Transcode efficiency"
    echo
    echo "1280x720 30 fps H.264 → decode → libx264 veryfast zerolatency crf 23, paced at real time, vision off; ${T_SECS} s windows × $RUNS runs; ratio taken run by run (target ≤ 1.10)."
    echo
    echo "| measure | visiongate | ffmpeg CLI | ratio (median, spread) |"
    echo "|---|---|---|---|"
    printf '| CPU ms per output frame | %.2f | %.2f | %.3f (%s) |\n' "$mv" "$mf" "$mr" "$(spread "${ratios[@]}")"
  } >"$OUT/transcode.md"
  printf '{"seconds":%s,"runs":%s,"visiongate_cpu_ms_per_frame":%s,"ffmpeg_cpu_ms_per_frame":%s,"ratio_median":%s,"per_run":{"visiongate":%s,"ffmpeg":%s,"ratio":%s}}\n' \
    "$T_SECS" "$RUNS" "$mv" "$mf" "$mr" "$(jarr "${vg[@]}")" "$(jarr "${ff[@]}")" "$(jarr "${ratios[@]}")" >"$OUT/transcode.json"
  cat "$OUT/transcode.md" >&2
}
