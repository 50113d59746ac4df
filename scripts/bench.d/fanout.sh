# shellcheck shell=bash
# Part 5, fan-out: visiongate's CPU (cores: CPU seconds / wall over the
# window) on one 1280x720 30 fps source (the looped file, vision off) with
# 1 RTSP reader, then 1 RTSP reader and 1 full-size MJPEG viewer (the
# first viewer's cost: a JPEG encode per frame), then 100 RTSP + 50 MJPEG
# + 20 LL-HLS readers, then (to show where the cost goes) 100 RTSP + 20
# LL-HLS without MJPEG. The
# readers are `vgbench readers`, another process: RTSP clients over TCP
# that count packets, MJPEG clients that read and discard parts, HLS
# clients that fetch each part as it completes. Ratios are taken run by
# run against the 1-reader figure of the same run (target ≤ 1.25).

# fan_phase LABEL ARGS...: runs the readers; sets P_CPU and P_FPS (the
# source's output rate over the window) and logs what the readers got.
fan_phase() {
  local label=$1 marks c0 c1 t0 t1 f0 f1 rpid res fps
  shift
  marks=$(mktemp -d)
  res="$OUT/fanout-$label.json"
  bin/vgbench readers "$@" -warm 4s -window "${FAN_WIN}s" -marks "$marks" >"$res" &
  rpid=$!
  bg_track "$rpid"
  wait_file "$marks/start" 60 || die "part 5: readers did not start"
  c0=$(cpu_of "$VG_PID"); t0=$(now); f0=$(sources_status | awk '{print $3}')
  wait_file "$marks/end" $((FAN_WIN + 60)) || die "part 5: readers did not finish"
  c1=$(cpu_of "$VG_PID"); t1=$(now); f1=$(sources_status | awk '{print $3}')
  fps=$(printf %.1f "$(calc "(${f1:-0} - ${f0:-0}) / ($t1 - $t0)")") # the source's output over the window
  wait "$rpid" || die "part 5: readers failed"
  stop_pid "$rpid"
  rm -rf "$marks"
  P_CPU=$(calc "($c1 - $c0) / ($t1 - $t0)")
  P_FPS=$fps
  log "  $label: visiongate $(printf %.3f "$P_CPU") cores, source at $fps fps; readers ($(jget "$res" 'd.pop("cpu_cores")') cores): $($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
d.pop("cpu_cores", None)
print(", ".join("%d %s at %.1f fps median (min %.1f, %d receiving%s)" % (v["readers"], k, v["fps_median"], v["fps_min"],
      v["receiving"], ", %d errors: %s" % (v["errors"], v.get("first_error", "")) if v["errors"] else "") for k, v in d.items()))' "$res")"
}

part_fanout() {
  FAN_WIN=${FAN_WIN:-$([ "$QUICK" = 1 ] && echo 6 || echo 10)}
  log "== part 5: fan-out (${FAN_WIN}s windows, $RUNS runs)"
  local i cfg="$OUT/fanout.yaml" one=() onemj=() d_mj=() many=() nomj=() r_many=() r_nomj=() fps_one=() fps_many=() rtsp hls mjpeg
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    gw_config "$cfg"
    gw_source "$cfg" cam "file://$CLIP720"
    start_gateway "$cfg" "$OUT/fanout-vg.log"
    wait_running 1 15 in || die "part 5: source did not start" # on demand: nothing encoded before a reader
    rtsp="rtsp://$VG_RTSP/cam" hls="http://$VG_HTTP/hls/cam/index.m3u8" mjpeg="http://$VG_HTTP/mjpeg/cam"
    fan_phase one -rtsp "$rtsp" -rtsp-n 1
    one+=("$P_CPU"); fps_one+=("$P_FPS")
    fan_phase onemjpeg -rtsp "$rtsp" -rtsp-n 1 -mjpeg "$mjpeg" -mjpeg-n 1
    onemj+=("$P_CPU"); d_mj+=("$(calc "${onemj[-1]} - ${one[-1]}")")
    fan_phase many -rtsp "$rtsp" -rtsp-n 100 -mjpeg "$mjpeg" -mjpeg-n 50 -hls "$hls" -hls-n 20
    many+=("$P_CPU"); fps_many+=("$P_FPS")
    fan_phase nomjpeg -rtsp "$rtsp" -rtsp-n 100 -hls "$hls" -hls-n 20
    nomj+=("$P_CPU")
    stop_gateway
    r_many+=("$(calc "${many[-1]} / ${one[-1]}")"); r_nomj+=("$(calc "${nomj[-1]} / ${one[-1]}")")
    log " run $i: ratio $(printf %.2f "${r_many[-1]}") (without MJPEG $(printf %.2f "${r_nomj[-1]}"))"
  done
  {
    echo "### 5. Fan-out"
    echo
    echo "visiongate's CPU on one 1280x720 30 fps source (vision off) by readers (in another process); ${FAN_WIN} s windows, median of $RUNS runs (spread); ratios run by run. Target: ≤ 1.25."
    echo
    echo "| readers | CPU cores | ratio to 1 reader |"
    echo "|---|---|---|"
    printf '| 1 RTSP | %.3f (%s) | 1 |\n' "$(median "${one[@]}")" "$(spread "${one[@]}")"
    printf '| 1 RTSP + 1 MJPEG (1280 wide) | %.3f (%s) | first MJPEG viewer +%.3f cores (%s) |\n' "$(median "${onemj[@]}")" \
      "$(spread "${onemj[@]}")" "$(median "${d_mj[@]}")" "$(SPREAD_FMT=%.3f spread "${d_mj[@]}")"
    printf '| 100 RTSP + 50 MJPEG + 20 LL-HLS | %.3f (%s) | %.2f (%s) |\n' "$(median "${many[@]}")" "$(spread "${many[@]}")" \
      "$(median "${r_many[@]}")" "$(SPREAD_FMT=%.2f spread "${r_many[@]}")"
    printf '| 100 RTSP + 20 LL-HLS (no MJPEG) | %.3f (%s) | %.2f (%s) |\n' "$(median "${nomj[@]}")" "$(spread "${nomj[@]}")" \
      "$(median "${r_nomj[@]}")" "$(SPREAD_FMT=%.2f spread "${r_nomj[@]}")"
  } >"$OUT/fanout.md"
  printf '{"window_s":%s,"runs":%s,"cpu_one_reader":%s,"first_mjpeg_viewer_cores":%s,"cpu_170_readers":%s,"cpu_120_readers_no_mjpeg":%s,"ratio_median":%s,"ratio_no_mjpeg_median":%s,"per_run":{"one":%s,"many":%s,"no_mjpeg":%s,"ratio":%s,"ratio_no_mjpeg":%s,"source_fps_one":%s,"source_fps_many":%s}}\n' \
    "$FAN_WIN" "$RUNS" "$(median "${one[@]}")" "$(median "${d_mj[@]}")" "$(median "${many[@]}")" "$(median "${nomj[@]}")" \
    "$(median "${r_many[@]}")" "$(median "${r_nomj[@]}")" "$(jarr "${one[@]}")" "$(jarr "${many[@]}")" \
    "$(jarr "${nomj[@]}")" "$(jarr "${r_many[@]}")" "$(jarr "${r_nomj[@]}")" \
    "$(jarr "${fps_one[@]}")" "$(jarr "${fps_many[@]}")" >"$OUT/fanout.json"
  cat "$OUT/fanout.md" >&2
}
