# shellcheck shell=bash
# Part 9, peers: visiongate next to MediaMTX and the ffmpeg CLI on the same
# camera. One plain bench camera (`vgbench camera`, part 7's clip: 1280x720
# 30 fps H.264 looped over RTSP/TCP, every frame sent, in its own process)
# feeds everything. Each run, one server at a time (never two at once, so
# neither steals the other's CPU), in an order that alternates run by run:
#  - per RTSP reader: visiongate with one source of the camera,
#    `transcode: false` (relayed: no decode, no encode), and MediaMTX
#    (MEDIAMTX_VERSION, built by mediamtx.sh; config in bench-results: one
#    path `cam` sourcing the camera over TCP, sourceOnDemand no, RTSP on a
#    free loopback port over TCP only, every other server off). Each one's
#    process CPU (cores: CPU seconds / wall over the window) with 1 reader,
#    then with 100 (`vgbench readers -rtsp URL -rtsp-n N`, another process,
#    TCP, packets counted, not decoded). Marginal cost per reader = (cores
#    with 100 − cores with 1) / 99, in % of a core; the ratio visiongate /
#    MediaMTX run by run. The readers' frame rates (median and slowest of
#    the 100) show both served every reader in full. Both send about the
#    same packets: visiongate repacketizes each frame (gortsplib's default
#    size, as the camera does); MediaMTX would forward the camera's packets
#    as they are, but they exceed its limit (its log: "RTP packets are too
#    big (1450 > 1440)"), so it remuxes them, once per stream, not per
#    reader;
#  - transcoding with a reader attached: visiongate with one source of the
#    camera, default transcode (libx264 veryfast zerolatency), no detector,
#    1 RTSP reader, against `ffmpeg -rtsp_transport tcp -i URL -an` + part
#    1's libx264 settings (FF_X264: veryfast, zerolatency, crf 23, -g 30,
#    -bf 0, -sc_threshold 0, visiongate's defaults) `-f null -`. These two
#    run at the same time, measured over the same window: on a shared
#    machine, load that comes and goes then weighs on both alike (one after
#    the other, the ratio of single runs spread 0.86-1.17). Together they
#    use about a third of the 2 cores. Cores over the window, ratio run by
#    run (target ≤ 1.05); visiongate's fps_out (frames_out over the window)
#    and ffmpeg's frames (its -progress) show both at full rate. Work
#    visiongate does that the ffmpeg line does not: depacketizing the
#    camera in Go, its hub, status and metrics, and packetizing and
#    sending RTSP to the reader.

# shellcheck source=/dev/null # mediamtx.sh: MediaMTX, built for the comparison
. scripts/bench.d/mediamtx.sh

# pe_camera: starts the bench camera for the whole part; sets PE_CAM_URL.
pe_camera() {
  local f="$OUT/peers-cam.url"
  rm -f "$f"
  bin/vgbench camera -clip "$OD_CLIP" -url-file "$f" >/dev/null 2>"$OUT/peers-cam.log" &
  PE_CAM_PID=$!
  bg_track "$PE_CAM_PID"
  wait_file "$f" 10 || die "part 9: the bench camera did not start; see $OUT/peers-cam.log"
  PE_CAM_URL=$(<"$f")
}

# pe_free_port: a TCP port free on loopback right now.
pe_free_port() {
  $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pe_mtx_start: MediaMTX relaying the camera on path cam; sets PE_PID and
# PE_URL. It runs in $OUT, so nothing it writes lands in the repository.
pe_mtx_start() {
  local cfg="$OUT/peers-mtx.yml" logf="$OUT/peers-mtx.log" port try i
  for ((try = 1; try <= 3; try++)); do # the free port may be taken meanwhile
    port=$(pe_free_port)
    cat >"$cfg" <<EOF
# part 9 of scripts/bench: MediaMTX relaying the bench camera, RTSP/TCP only
logLevel: info
logDestinations: [stdout]
api: no
metrics: no
pprof: no
playback: no
rtmp: no
hls: no
webrtc: no
srt: no
moq: no
rtsp: yes
rtspTransports: [tcp]
rtspAddress: 127.0.0.1:$port
paths:
  cam:
    source: $PE_CAM_URL
    rtspTransport: tcp
    sourceOnDemand: no
EOF
    rm -f "$logf"
    (cd "$OUT" && exec "$PE_MTX" "$(basename "$cfg")") >"$logf" 2>&1 &
    PE_PID=$!
    bg_track "$PE_PID"
    for ((i = 0; i < 150; i++)); do
      grep -qs 'is available and online\|\] ready' "$logf" && break
      kill -0 "$PE_PID" 2>/dev/null || break
      sleep 0.1
    done
    if grep -qs 'is available and online\|\] ready' "$logf"; then
      PE_URL="rtsp://127.0.0.1:$port/cam"
      return 0
    fi
    stop_pid "$PE_PID"
    log "  MediaMTX did not come up (try $try); see $logf"
  done
  die "part 9: MediaMTX did not start; see $logf"
}

# pe_phase PID LABEL URL N [frames [FFPID]]: N RTSP readers of URL over a
# window; sets PE_CORES (PID's), PE_FPS_MED, PE_FPS_MIN and PE_NOTE (what
# the readers got). With "frames", also PE_FPS_OUT: the visiongate
# source's frames_out a second over the window; with FFPID, PE_FF_CORES
# and PE_FF_FPS: that ffmpeg's over the same window (its -progress file is
# PE_FF_PROG).
pe_phase() {
  local pid=$1 label=$2 url=$3 n=$4 ffpid=${6:-} marks c0 c1 t0 t1 f0=0 f1=0 rpid res fc0 fc1 ff0 ff1
  marks=$(mktemp -d)
  res="$OUT/peers-$label.json"
  bin/vgbench readers -rtsp "$url" -rtsp-n "$n" -warm "${PE_WARM}s" -window "${PE_WIN}s" -marks "$marks" >"$res" &
  rpid=$!
  bg_track "$rpid"
  wait_file "$marks/start" 60 || die "part 9: readers did not start ($label)"
  c0=$(cpu_of "$pid"); t0=$(now)
  [ -n "$ffpid" ] && fc0=$(cpu_of "$ffpid") && ff0=$(ff_frames "$PE_FF_PROG")
  [ "${5:-}" = frames ] && f0=$(sources_status | awk '{print $3}')
  wait_file "$marks/end" $((PE_WIN + 60)) || die "part 9: readers did not finish ($label)"
  c1=$(cpu_of "$pid"); t1=$(now)
  [ -n "$ffpid" ] && fc1=$(cpu_of "$ffpid") && ff1=$(ff_frames "$PE_FF_PROG")
  [ "${5:-}" = frames ] && f1=$(sources_status | awk '{print $3}')
  wait "$rpid" || die "part 9: readers failed ($label)"
  stop_pid "$rpid"
  rm -rf "$marks"
  PE_CORES=$(calc "($c1 - $c0) / ($t1 - $t0)")
  PE_FPS_OUT=$(calc "(${f1:-0} - ${f0:-0}) / ($t1 - $t0)")
  if [ -n "$ffpid" ]; then
    PE_FF_CORES=$(calc "($fc1 - $fc0) / ($t1 - $t0)")
    PE_FF_FPS=$(calc "(${ff1:-0} - ${ff0:-0}) / ($t1 - $t0)")
  fi
  PE_FPS_MED=$(jget "$res" 'd["rtsp"]["fps_median"]')
  PE_FPS_MIN=$(jget "$res" 'd["rtsp"]["fps_min"]')
  PE_NOTE=$($PY -c '
import json, sys
v = json.load(open(sys.argv[1]))["rtsp"]
print("%d/%d readers receiving, %.1f fps median (slowest %.1f)%s" % (v["receiving"], v["readers"], v["fps_median"],
      v["fps_min"], ", %d errors: %s" % (v["errors"], v.get("first_error", "")) if v["errors"] else ""))' "$res")
}

# pe_relay SERVER: 1 then 100 readers of visiongate (transcode: false) or
# MediaMTX; appends to PE_C1[SERVER], PE_C100[SERVER], PE_MARG[SERVER],
# PE_RMED[SERVER] and PE_RMIN[SERVER] (the 100 readers' rates).
pe_relay() {
  local s=$1 cfg="$OUT/peers.yaml" url name c1 m
  if [ "$s" = visiongate ]; then
    gw_config "$cfg"
    gw_source "$cfg" cam "$PE_CAM_URL" "" "transport: tcp" "transcode: false"
    start_gateway "$cfg" "$OUT/peers-vg.log"
    wait_running 1 20 in || die "part 9: the relayed source did not start"
    PE_PID=$VG_PID url="rtsp://$VG_RTSP/cam" name="visiongate (transcode: false)"
  else
    pe_mtx_start
    url=$PE_URL name="MediaMTX $PE_MTX_VERSION"
  fi
  pe_phase "$PE_PID" "$s-1" "$url" 1
  c1=$PE_CORES
  log "  $name, 1 reader: $(printf %.3f "$c1") cores; $PE_NOTE"
  pe_phase "$PE_PID" "$s-100" "$url" 100
  m=$(calc "($PE_CORES - $c1) / 99 * 100")
  log "  $name, 100 readers: $(printf %.3f "$PE_CORES") cores; $PE_NOTE; $(printf %.3f "$m") % of a core per extra reader"
  stop_pid "$PE_PID"
  PE_C1[$s]+=" $c1"; PE_C100[$s]+=" $PE_CORES"; PE_MARG[$s]+=" $m"
  PE_RMED[$s]+=" $PE_FPS_MED"; PE_RMIN[$s]+=" $PE_FPS_MIN"
}

# pe_tc: visiongate transcoding the camera (defaults, no detector) with one
# RTSP reader, and the ffmpeg CLI decoding and encoding it to null, both at
# once over one window; appends to PE_TC[vg|ff] and PE_TCFPS[vg|ff].
pe_tc() {
  local cfg="$OUT/peers.yaml"
  gw_config "$cfg"
  gw_source "$cfg" cam "$PE_CAM_URL" "" "transport: tcp"
  start_gateway "$cfg" "$OUT/peers-vg.log"
  wait_running 1 20 in || die "part 9: the transcoded source did not start"
  PE_FF_PROG="$OUT/peers-ff.progress"
  ff_progress "$PE_FF_PROG" -rtsp_transport tcp -i "$PE_CAM_URL" -an "${FF_X264[@]}" -f null - 2>"$OUT/peers-ff.log"
  pe_phase "$VG_PID" tc-vg "rtsp://$VG_RTSP/cam" 1 frames "$FF_PID"
  stop_pid "$FF_PID"
  stop_gateway
  PE_TC[vg]+=" $PE_CORES"; PE_TCFPS[vg]+=" $PE_FPS_OUT"
  PE_TC[ff]+=" $PE_FF_CORES"; PE_TCFPS[ff]+=" $PE_FF_FPS"
  log "  transcoding at once: visiongate with 1 reader $(printf %.3f "$PE_CORES") cores, $(printf %.1f "$PE_FPS_OUT") fps out ($PE_NOTE); ffmpeg CLI $(printf %.3f "$PE_FF_CORES") cores, $(printf %.1f "$PE_FF_FPS") fps"
}

# pe_last KEY ARRAY-NAME: the last value appended to ARRAY[KEY].
pe_last() {
  local -n a=$2
  local v=${a[$1]}
  echo "${v##* }"
}

part_peers() {
  PE_WIN=${PE_WIN:-$([ "$QUICK" = 1 ] && echo 8 || echo 15)}
  PE_WARM=${PE_WARM:-4}
  log "== part 9: peers, MediaMTX per RTSP reader and the ffmpeg CLI transcoding (${PE_WIN}s windows, $RUNS runs)"
  build_mediamtx
  PE_MTX=$(realpath "$MTX_BIN")
  PE_MTX_VERSION=$("$PE_MTX" --version 2>/dev/null | head -1)
  PE_MTX_VERSION=${PE_MTX_VERSION:-$MEDIAMTX_VERSION}
  declare -gA PE_C1=() PE_C100=() PE_MARG=() PE_RMED=() PE_RMIN=() PE_TC=() PE_TCFPS=()
  PE_RATIO=() PE_TCR=() PE_TCR_F=()
  local i s order mv mm tv tf r
  od_clip
  pe_camera
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    order=(visiongate mediamtx)
    ((i % 2)) || order=(mediamtx visiongate)
    for s in "${order[@]}"; do pe_relay "$s"; done
    pe_tc
    mv=$(pe_last visiongate PE_MARG) mm=$(pe_last mediamtx PE_MARG)
    tv=$(pe_last vg PE_TC) tf=$(pe_last ff PE_TC)
    r="no ratio: MediaMTX's cost did not grow"
    if awk "BEGIN{exit !($mm > 0)}"; then
      PE_RATIO+=("$(calc "$mv / $mm")")
      r=$(printf 'ratio %.2f' "${PE_RATIO[-1]}")
    fi
    PE_TCR+=("$(calc "$tv / $tf")")
    # per frame too: an ffmpeg still catching up on its start-up backlog
    # encodes more than 30 a second in the window
    PE_TCR_F+=("$(calc "($tv / $(pe_last vg PE_TCFPS)) / ($tf / $(pe_last ff PE_TCFPS))")")
    log " run $i: per reader visiongate $(printf %.3f "$mv") vs MediaMTX $(printf %.3f "$mm") % of a core ($r); transcoding visiongate / ffmpeg $(printf %.3f "${PE_TCR[-1]}") (per frame $(printf %.3f "${PE_TCR_F[-1]}"))"
  done
  stop_pid "$PE_CAM_PID"
  pe_report
}

# pe_fmt FORMAT VALUES...: "median (lo–hi)" with FORMAT, or "n/a".
# shellcheck disable=SC2059 # the format is the caller's
pe_fmt() {
  local f=$1
  shift
  (($#)) || { echo "n/a"; return; }
  printf "$f (%s)" "$(median "$@")" "$(SPREAD_FMT=$f spread "$@")"
}

# shellcheck disable=SC2086 # the per-server lists are space-separated
pe_report() {
  local s name
  {
    echo "### 9. Peers: MediaMTX per RTSP reader, the ffmpeg CLI transcoding"
    echo
    echo "One bench camera (1280x720 30 fps H.264 over RTSP/TCP); median of $RUNS runs (spread), ${PE_WIN} s windows; ratios run by run. The relays run one at a time, in alternating order; the two transcoders run at the same time."
    echo
    echo "Marginal CPU per RTSP/TCP reader of the relayed stream (no decode, no encode): (cores with 100 readers − cores with 1) / 99."
    echo
    echo "| server | cores, 1 reader | cores, 100 readers | per extra reader, % of a core | the 100 readers' fps, median (slowest) |"
    echo "|---|---|---|---|---|"
    for s in visiongate mediamtx; do
      name="visiongate, \`transcode: false\`"
      [ "$s" = mediamtx ] && name="MediaMTX $PE_MTX_VERSION"
      printf '| %s | %s | %s | %s | %.1f (%.1f) |\n' "$name" "$(pe_fmt %.3f ${PE_C1[$s]})" "$(pe_fmt %.3f ${PE_C100[$s]})" \
        "$(pe_fmt %.3f ${PE_MARG[$s]})" "$(median ${PE_RMED[$s]})" "$(printf '%s\n' ${PE_RMIN[$s]} | sort -g | head -1)"
    done
    printf '| ratio visiongate / MediaMTX | | | %s | |\n' "$(pe_fmt %.2f "${PE_RATIO[@]}")"
    echo
    echo "Transcoding with a reader attached (no detector, visiongate's default libx264 veryfast zerolatency): visiongate with 1 RTSP reader against \`ffmpeg -rtsp_transport tcp -i URL -an -c:v libx264 -preset veryfast -tune zerolatency -crf 23 -g 30 -bf 0 -sc_threshold 0 -f null -\`, both at once over the same window. visiongate also depacketizes the camera in Go, runs its hub, status and metrics, and packetizes and sends RTSP to the reader. Target: ≤ 1.05."
    echo
    echo "| process | CPU cores | fps | ratio to ffmpeg | ratio of CPU per frame |"
    echo "|---|---|---|---|---|"
    printf '| visiongate, 1 RTSP reader | %s | %s out | %s | %s |\n' "$(pe_fmt %.3f ${PE_TC[vg]})" "$(pe_fmt %.1f ${PE_TCFPS[vg]})" \
      "$(pe_fmt %.3f "${PE_TCR[@]}")" "$(pe_fmt %.3f "${PE_TCR_F[@]}")"
    printf '| ffmpeg CLI | %s | %s | 1 | 1 |\n' "$(pe_fmt %.3f ${PE_TC[ff]})" "$(pe_fmt %.1f ${PE_TCFPS[ff]})"
  } >"$OUT/peers.md"
  pe_json >"$OUT/peers.json"
  cat "$OUT/peers.md" >&2
}

# shellcheck disable=SC2086 # the per-server lists are space-separated
pe_json() {
  local s
  printf '{"window_s":%s,"runs":%s,"mediamtx_version":"%s","per_reader_pct_core":{"visiongate":%s,"mediamtx":%s},"per_reader_ratio_median":%s' \
    "$PE_WIN" "$RUNS" "$PE_MTX_VERSION" "$(median ${PE_MARG[visiongate]})" "$(median ${PE_MARG[mediamtx]})" "$(median "${PE_RATIO[@]}")"
  printf ',"cores":{'
  for s in visiongate mediamtx; do
    [ "$s" = mediamtx ] && printf ','
    printf '"%s":{"one_reader":%s,"hundred_readers":%s}' "$s" "$(median ${PE_C1[$s]})" "$(median ${PE_C100[$s]})"
  done
  printf '},"hundred_readers_fps":{'
  for s in visiongate mediamtx; do
    [ "$s" = mediamtx ] && printf ','
    printf '"%s":{"median":%s,"slowest":%s}' "$s" "$(median ${PE_RMED[$s]})" "$(printf '%s\n' ${PE_RMIN[$s]} | sort -g | head -1)"
  done
  printf '},"transcode":{"visiongate_cores":%s,"ffmpeg_cores":%s,"ratio_median":%s,"ratio_per_frame_median":%s,"visiongate_fps_out":%s,"ffmpeg_fps":%s}' \
    "$(median ${PE_TC[vg]})" "$(median ${PE_TC[ff]})" "$(median "${PE_TCR[@]}")" "$(median "${PE_TCR_F[@]}")" "$(median ${PE_TCFPS[vg]})" "$(median ${PE_TCFPS[ff]})"
  printf ',"per_run":{"visiongate_one":%s,"visiongate_hundred":%s,"visiongate_per_reader_pct":%s,"mediamtx_one":%s,"mediamtx_hundred":%s,"mediamtx_per_reader_pct":%s,"per_reader_ratio":%s' \
    "$(jarr ${PE_C1[visiongate]})" "$(jarr ${PE_C100[visiongate]})" "$(jarr ${PE_MARG[visiongate]})" \
    "$(jarr ${PE_C1[mediamtx]})" "$(jarr ${PE_C100[mediamtx]})" "$(jarr ${PE_MARG[mediamtx]})" "$(jarr "${PE_RATIO[@]}")"
  printf ',"visiongate_readers_fps_min":%s,"mediamtx_readers_fps_min":%s' "$(jarr ${PE_RMIN[visiongate]})" "$(jarr ${PE_RMIN[mediamtx]})"
  printf ',"transcode_visiongate":%s,"transcode_ffmpeg":%s,"transcode_ratio":%s,"transcode_ratio_per_frame":%s,"visiongate_fps_out":%s,"ffmpeg_fps":%s}}\n' \
    "$(jarr ${PE_TC[vg]})" "$(jarr ${PE_TC[ff]})" "$(jarr "${PE_TCR[@]}")" "$(jarr "${PE_TCR_F[@]}")" "$(jarr ${PE_TCFPS[vg]})" "$(jarr ${PE_TCFPS[ff]})"
}
