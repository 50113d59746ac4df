# shellcheck shell=bash
# Part 8, pushed streams: what a stream pushed in over RTSP, RTMP or SRT
# costs next to the same stream pulled from a camera, and how soon a reader
# sees a publisher's picture. The input is part 7's camera clip (od_clip: a
# 1280x720 30 fps H.264 clip, no B-frames, a keyframe a second, an AUD
# before every frame), looped; the publishers send the same bits (remuxed
# once into MP4 for 30 fps timestamps) with `ffmpeg -re -stream_loop -1 -i
# CLIP -c copy`. Each run, side by side:
#  - CPU per stream: a visiongate with one source `cam`, vision off, fed in
#    one of four ways, the order rotating run by run: (a) pulled over
#    RTSP/TCP from `vgbench camera` (transport: tcp, as in part 7); (b)
#    `url: publish`, pushed over RTSP/TCP (`-f rtsp -rtsp_transport tcp`);
#    (c) pushed over RTMP (`-f flv`); (d) pushed over SRT (`-f mpegts
#    'srt://…?streamid=publish:cam&pkt_size=1316'`). One RTSP reader
#    (`vgbench readers -rtsp-n 1`, as in part 5) keeps the on-demand encoder
#    running, as in real use. Once the source runs and the reader's PU_WARM
#    seconds of warm-up are over, visiongate's cores = its CPU seconds over
#    the reader's PU_WIN-second window / the window's length. The feeding
#    process (camera or ffmpeg publisher) is another process and is not
#    counted (its own cores are shown beside, for reference). Also over the
#    window: the source's decoded rate (frames_in), the reader's rate and
#    the publisher's dropped packets, to show every case runs at full rate.
#    Ratios pushed / pulled are taken run by run.
#  - publish to first picture: a visiongate with a fresh publish source per
#    try (one nobody has published to: a source whose publisher left shows
#    new readers its "reconnecting" card). A new RTSP reader (`vgbench
#    firstframe`, a process per try) starts first and waits in DESCRIBE
#    (visiongate holds it up to 5 s for a stream); PU_LEAD seconds later
#    the publisher starts. ms = the reader's first request (its own wall
#    clock) + its first_frame_ms − the publisher's start, which counts
#    ffmpeg's own start-up. Then the publisher stops, the source is back to
#    `waiting`, and it is removed. PU_TRIES tries per protocol and run, the
#    protocols' order rotating run by run. RTMP is about 2 s slower: the
#    gateway's RTMP library reads that much to name the tracks.

PU_CASES=(pull rtsp rtmp srt)
PU_PROTOS=(rtsp rtmp srt)

# pu_clip: part 7's camera clip (PU_CAM_CLIP, for the camera) and the same
# bits in MP4 (PU_CLIP, for the ffmpeg publishers).
pu_clip() {
  od_clip
  PU_CAM_CLIP=$OD_CLIP
  PU_CLIP="$OUT/push-clip.mp4"
  if [ ! -f "$PU_CLIP" ] || [ "$PU_CAM_CLIP" -nt "$PU_CLIP" ]; then
    ffmpeg -hide_banner -loglevel error -framerate 30 -i "$PU_CAM_CLIP" -c copy \
      -video_track_timescale 90000 -y "$PU_CLIP"
  fi
}

# pu_camera: starts the bench camera; sets PU_FEED_PID and PU_CAM_URL.
pu_camera() {
  local f="$OUT/push-cam.url"
  rm -f "$f"
  bin/vgbench camera -clip "$PU_CAM_CLIP" -url-file "$f" >/dev/null 2>>"$OUT/push-cam.log" &
  PU_FEED_PID=$!
  bg_track "$PU_FEED_PID"
  wait_file "$f" 10 || die "part 8: the bench camera did not start; see $OUT/push-cam.log"
  PU_CAM_URL=$(<"$f")
}

# pu_publish PROTO NAME: starts ffmpeg pushing the clip, looped at real
# time, to the source NAME of the running visiongate; sets PU_FEED_PID.
pu_publish() {
  local to
  case $1 in
  rtsp) to=(-f rtsp -rtsp_transport tcp "rtsp://$VG_RTSP/$2") ;;
  rtmp) to=(-f flv "rtmp://$VG_RTMP/$2") ;;
  srt) to=(-f mpegts "srt://$VG_SRT?streamid=publish:$2&pkt_size=1316") ;;
  *) die "part 8: unknown protocol $1" ;;
  esac
  echo "== $(date +%T) $1 → $2" >>"$OUT/push-pub.log"
  ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$PU_CLIP" -c copy "${to[@]}" \
    2>>"$OUT/push-pub.log" &
  PU_FEED_PID=$!
  bg_track "$PU_FEED_PID"
}

# pu_state NAME STATE SECONDS: wait until the source's state is STATE.
pu_state() {
  local end=$(($(date +%s) + $3)) st
  while (($(date +%s) < end)); do
    st=$(source_json "$1" | jget /dev/stdin 'd["state"]' 2>/dev/null) || st=""
    [ "$st" = "$2" ] && return 0
    sleep 0.2
  done
  log "bench: source $1 is '$st', not '$2', after $3 s"
  return 1
}

# pu_cpu_case CASE: one visiongate fed as CASE says (pull, or the protocol
# that pushes), one RTSP reader, one window; sets PU_CORES, PU_DEC
# (decoded fps), PU_RD (the reader's fps), PU_FEED (the feeding process's
# cores), PU_DROP (packets the source dropped, pushed only) and PU_PUB (who
# the status says publishes).
pu_cpu_case() {
  local k=$1 cfg="$OUT/push.yaml" res="$OUT/push-$1.json" marks rpid c0 c1 p0 p1 t0 t1 s0 s1 s0_T s1_T st
  gw_config "$cfg"
  if [ "$k" = pull ]; then
    pu_camera
    gw_source "$cfg" cam "$PU_CAM_URL" "" "transport: tcp"
    start_gateway "$cfg" "$OUT/push-vg.log"
  else
    gw_source "$cfg" cam publish
    start_gateway "$cfg" "$OUT/push-vg.log"
    pu_publish "$k" cam
  fi
  wait_running 1 20 in || die "part 8: the source did not run ($k; see $OUT/push-vg.log, $OUT/push-pub.log)"
  marks=$(mktemp -d)
  bin/vgbench readers -rtsp "rtsp://$VG_RTSP/cam" -rtsp-n 1 -warm "${PU_WARM}s" -window "${PU_WIN}s" \
    -marks "$marks" >"$res" &
  rpid=$!
  bg_track "$rpid"
  wait_file "$marks/start" $((PU_WARM + 30)) || die "part 8: the reader did not start ($k)"
  c0=$(cpu_of "$VG_PID"); p0=$(cpu_of "$PU_FEED_PID"); t0=$(now)
  sample_sources s0
  wait_file "$marks/end" $((PU_WIN + 30)) || die "part 8: the reader did not finish ($k)"
  c1=$(cpu_of "$VG_PID"); p1=$(cpu_of "$PU_FEED_PID"); t1=$(now)
  sample_sources s1
  wait "$rpid" || die "part 8: the reader failed ($k)"
  stop_pid "$rpid"
  rm -rf "$marks"
  st=$(source_json cam) || die "part 8: no status ($k)"
  PU_DROP=$(jget /dev/stdin '(d.get("publisher") or {}).get("dropped", 0)' <<<"$st")
  PU_PUB=$(jget /dev/stdin 'd["state"] + ", " + (d.get("publisher") or {}).get("protocol", "no publisher")' <<<"$st")
  stop_pid "$PU_FEED_PID"
  stop_gateway
  PU_CORES=$(calc "($c1 - $c0) / ($t1 - $t0)")
  PU_FEED=$(calc "($p1 - $p0) / ($t1 - $t0)")
  PU_DEC=$(awk -v dt="$(calc "$s1_T - $s0_T")" 'NR == FNR { f = $5; next } { printf "%.1f", ($5 - f) / dt }' \
    <(echo "$s0") <(echo "$s1"))
  PU_RD=$(jget "$res" 'd["rtsp"]["fps_median"]')
  [ "$(jget "$res" 'd["rtsp"]["errors"]')" = 0 ] || log "  (reader errors: $(jget "$res" 'd["rtsp"].get("first_error")'))"
}

# pu_cpu_run RUN: the four cases, in an order that rotates with the run
# number; appends each case's figures to the PU_* lists and the run's
# ratios pushed / pulled to PU_Q.
pu_cpu_run() {
  local j k
  local -A cores=()
  for ((j = 0; j < ${#PU_CASES[@]}; j++)); do
    k=${PU_CASES[($1 - 1 + j) % ${#PU_CASES[@]}]}
    pu_cpu_case "$k"
    cores[$k]=$PU_CORES
    PU_C[$k]+=" $PU_CORES" PU_D[$k]+=" $PU_DEC" PU_R[$k]+=" $PU_RD" PU_F[$k]+=" $PU_FEED" PU_X[$k]+=" $PU_DROP"
    log "  $(pu_label "$k"): visiongate $(printf %.3f "$PU_CORES") cores; decoded $PU_DEC fps, reader $PU_RD fps;" \
      "$([ "$k" = pull ] && echo camera || echo publisher) $(printf %.3f "$PU_FEED") cores (not counted); status $PU_PUB, dropped $PU_DROP"
  done
  for k in "${PU_PROTOS[@]}"; do PU_Q[$k]+=" $(calc "${cores[$k]} / ${cores[pull]}")"; done
  log " run $1: visiongate's CPU pushed / pulled:$(for k in "${PU_PROTOS[@]}"; do printf ' %s %.2f' "$k" "$(calc "${cores[$k]} / ${cores[pull]}")"; done)"
}

# pu_ff_try PROTO NAME: one publish-to-first-picture try on the fresh
# publish source NAME; appends the ms to PU_FF[PROTO].
pu_ff_try() {
  local k=$1 name=$2 res="$OUT/push-ff.json" rpid tp ms
  pu_state "$name" waiting 10 || die "part 8: source $name not waiting"
  bin/vgbench firstframe -rtsp "rtsp://$VG_RTSP/$name" >"$res" 2>>"$OUT/push-ff.log" &
  rpid=$!
  bg_track "$rpid"
  sleep "$PU_LEAD" # the reader's DESCRIBE now waits for a stream
  tp=$(now)
  pu_publish "$k" "$name"
  wait "$rpid" || die "part 8: vgbench firstframe failed ($k; see $OUT/push-ff.log, $OUT/push-pub.log)"
  stop_pid "$rpid"
  ms=$(jget "$res" "d['start_unix_ms'] + d['first_frame_ms'] - $tp * 1000")
  if [ "$(jget "$res" "int(d['start_unix_ms'] < $tp * 1000)")" != 1 ]; then
    log "  (the $k try's reader started after its publisher: raise PU_LEAD)"
  fi
  PU_FF[$k]+=" $(printf %.1f "$ms")"
  stop_pid "$PU_FEED_PID"
  pu_state "$name" waiting 15 || die "part 8: source $name not waiting after its publisher left"
  curl -sf --max-time 5 -X DELETE "http://$VG_HTTP/api/v1/sources/$name" >/dev/null ||
    log "  (could not remove source $name)"
}

# pu_ff_run RUN: PU_TRIES tries per protocol, each on its own source, in
# an order that rotates with the run number.
pu_ff_run() {
  local cfg="$OUT/push-ff.yaml" j k t
  gw_config "$cfg"
  for k in "${PU_PROTOS[@]}"; do
    for ((t = 1; t <= PU_TRIES; t++)); do gw_source "$cfg" "$k$t" publish; done
  done
  start_gateway "$cfg" "$OUT/push-ff-vg.log"
  for ((j = 0; j < ${#PU_PROTOS[@]}; j++)); do
    k=${PU_PROTOS[($1 - 1 + j) % ${#PU_PROTOS[@]}]}
    for ((t = 1; t <= PU_TRIES; t++)); do pu_ff_try "$k" "$k$t"; done
    log "  publish to first picture, $k:${PU_FF[$k]} ms (all runs so far)"
  done
  stop_gateway
}

pu_label() {
  case $1 in
  pull) echo "pulled over RTSP/TCP" ;;
  rtsp) echo "pushed over RTSP/TCP" ;;
  rtmp) echo "pushed over RTMP" ;;
  srt) echo "pushed over SRT" ;;
  esac
}

part_push() {
  PU_WIN=${PU_WIN:-$([ "$QUICK" = 1 ] && echo 8 || echo 15)}
  PU_WARM=${PU_WARM:-4}
  PU_TRIES=${PU_TRIES:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
  PU_LEAD=${PU_LEAD:-0.5}
  log "== part 8: pushed streams (${PU_WIN}s CPU windows after ${PU_WARM}s warm-up, $PU_TRIES first-picture tries per protocol and run, $RUNS runs)"
  # per case, space-separated lists over the runs: cores, decoded fps,
  # reader fps, feeding process's cores, dropped; per protocol: ratios to
  # pulled, first-picture ms
  declare -gA PU_C=() PU_D=() PU_R=() PU_F=() PU_X=() PU_Q=() PU_FF=()
  local i k
  : >"$OUT/push-pub.log"
  : >"$OUT/push-cam.log"
  : >"$OUT/push-ff.log"
  pu_clip
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    pu_cpu_run "$i"
    pu_ff_run "$i"
  done
  pu_report
}

# shellcheck disable=SC2086 # the PU_* values are space-separated lists
# pu_ms LIST: "median (lo–hi)" of a list of ms.
pu_ms() { printf '%.0f (%s)' "$(median $1)" "$(SPREAD_FMT=%.0f spread $1)"; }

# shellcheck disable=SC2086
pu_report() {
  local k n=$((RUNS * PU_TRIES)) ratio drop
  {
    echo "### 8. Pushed streams"
    echo
    echo "The same 1280x720 30 fps H.264 clip (no B-frames, 1 s GOP) into one visiongate source, vision off, with one RTSP reader (so the on-demand encoder runs): pulled over RTSP/TCP from \`vgbench camera\`, or pushed by \`ffmpeg -re -stream_loop -1 -i CLIP -c copy\` over RTSP/TCP, RTMP or SRT. visiongate's CPU cores over ${PU_WIN} s windows after ${PU_WARM} s of warm-up; the camera or publisher is another process, not counted (its own cores beside, for reference). Median of $RUNS runs (spread); ratios run by run."
    echo
    echo "| input | visiongate CPU cores per stream | ratio to pulled | decoded fps | reader fps | packets dropped (all runs) | camera / publisher cores (not counted) |"
    echo "|---|---|---|---|---|---|---|"
    for k in "${PU_CASES[@]}"; do
      ratio=1 drop="–"
      if [ "$k" != pull ]; then
        ratio=$(printf '%.2f (%s)' "$(median ${PU_Q[$k]})" "$(SPREAD_FMT=%.2f spread ${PU_Q[$k]})")
        drop=$(calc "0 ${PU_X[$k]// / + }")
      fi
      printf '| %s | %.3f (%s) | %s | %.1f | %.1f | %s | %.3f |\n' "$(pu_label "$k")$(pu_how "$k")" \
        "$(median ${PU_C[$k]})" "$(spread ${PU_C[$k]})" "$ratio" "$(median ${PU_D[$k]})" "$(median ${PU_R[$k]})" \
        "$drop" "$(median ${PU_F[$k]})"
    done
    echo
    echo "Publish to first picture: a new RTSP reader (\`vgbench firstframe\`) waits on a publish source nobody has published to yet; ms from starting the publisher (ffmpeg's own start-up included) to the reader's first decoded picture, median of $n tries (spread). RTMP: the gateway reads about 2 s of the stream to name its tracks before it starts the source."
    echo
    echo "| protocol | ms |"
    echo "|---|---|"
    printf '| RTSP (TCP, ANNOUNCE + RECORD) | %s |\n' "$(pu_ms "${PU_FF[rtsp]}")"
    printf '| RTMP | %s |\n' "$(pu_ms "${PU_FF[rtmp]}")"
    printf '| SRT (MPEG-TS) | %s |\n' "$(pu_ms "${PU_FF[srt]}")"
  } >"$OUT/push.md"
  pu_json >"$OUT/push.json"
  cat "$OUT/push.md" >&2
}

pu_how() {
  case $1 in
  pull) echo ", \`vgbench camera\`" ;;
  rtsp) echo ", \`-f rtsp -rtsp_transport tcp\`" ;;
  rtmp) echo ", \`-f flv\`" ;;
  srt) echo ", \`-f mpegts\`, pkt_size=1316" ;;
  esac
}

# pu_jmap ARRAY FUNC KEY...: {"KEY": FUNC ARRAY[KEY], ...} (FUNC: median or jarr)
# shellcheck disable=SC2086
pu_jmap() {
  local -n m=$1
  local f=$2 k sep=""
  shift 2
  printf '{'
  for k; do
    printf '%s"%s":%s' "$sep" "$k" "$("$f" ${m[$k]})"
    sep=,
  done
  printf '}'
}

pu_json() {
  printf '{"window_s":%s,"warm_s":%s,"runs":%s,"tries_per_run":%s' "$PU_WIN" "$PU_WARM" "$RUNS" "$PU_TRIES"
  printf ',"cores":%s,"ratio_to_pulled":%s' "$(pu_jmap PU_C median "${PU_CASES[@]}")" "$(pu_jmap PU_Q median "${PU_PROTOS[@]}")"
  printf ',"decoded_fps":%s,"reader_fps":%s' "$(pu_jmap PU_D median "${PU_CASES[@]}")" "$(pu_jmap PU_R median "${PU_CASES[@]}")"
  printf ',"feeder_cores":%s,"first_frame_ms":%s' "$(pu_jmap PU_F median "${PU_CASES[@]}")" "$(pu_jmap PU_FF median "${PU_PROTOS[@]}")"
  printf ',"per_run":{"cores":%s,"ratio_to_pulled":%s,"decoded_fps":%s,"reader_fps":%s,"feeder_cores":%s,"dropped":%s}' \
    "$(pu_jmap PU_C jarr "${PU_CASES[@]}")" "$(pu_jmap PU_Q jarr "${PU_PROTOS[@]}")" "$(pu_jmap PU_D jarr "${PU_CASES[@]}")" \
    "$(pu_jmap PU_R jarr "${PU_CASES[@]}")" "$(pu_jmap PU_F jarr "${PU_CASES[@]}")" "$(pu_jmap PU_X jarr "${PU_PROTOS[@]}")"
  printf ',"first_frame_tries_ms":%s}\n' "$(pu_jmap PU_FF jarr "${PU_PROTOS[@]}")"
}
