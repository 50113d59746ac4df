# shellcheck shell=bash
# Part 2, capacity: how many 1280x720 30 fps cameras one machine keeps at
# full output frame rate. A step with N cameras passes when every one of
# them delivers at least 95% of 30 fps over the window:
#  - visiongate: N sources in one process, each the same looped 720p30
#    file (paced at real time, its own demuxer, decoder and encoder), with
#    vision off and with `people` at 5 detections/s per camera; the rate is
#    each source's frames_out over the window, from the API;
#  - ffmpeg CLI: N parallel `ffmpeg -re -stream_loop -1 … libx264 … -f null -`
#    processes; the rate is each one's frames over the window, from
#    -progress (every 0.1 s). speed= (cumulative since start) is kept too.
# The first run searches N = 1, 2, 4, … then bisects; later runs start at
# the previous answer and step by one. N is capped at CAP_MAX (default six
# per CPU: a 720p30 transcode takes about a quarter of a core).
#
# The sources are `on_demand: false`: nobody watches during the search, and
# what is counted is frames encoded. Part 7 (ondemand.sh) runs the same
# search on other inputs by setting, as locals, what part_capacity sets:
#   CAP_NAME      prefix of the config, log and progress files in $OUT
#   CAP_URL       every source's URL
#   CAP_COUNT     a source's rate: out (frames_out, encoded) or in (frames_in, decoded)
#   CAP_SETTINGS  more lines of every source (gw_source)
#   CAP_FF        the ffmpeg command line after -progress (one per camera)
#   CAP_MIN_DET   with a detector, the median detections/s a step also
#                 needs to pass (empty: not checked)

CAP_MAX=${CAP_MAX:-$((6 * $(nproc)))}
CAP_MIN_FPS=28.5 # 0.95 × 30

# cap_step_vg N VISION: runs N sources; sets STEP_PASS, STEP_MIN (lowest fps)
# and, with vision, STEP_DET (median detections/s of the sources).
cap_step_vg() {
  local n=$1 vision=$2 cfg="$OUT/$CAP_NAME.yaml" i t0 t1 s0 s1 s0_T s1_T col=3
  [ "$CAP_COUNT" = in ] && col=5
  gw_config "$cfg"
  for ((i = 1; i <= n; i++)); do gw_source "$cfg" "cam$i" "$CAP_URL" "$vision" "${CAP_SETTINGS[@]}"; done
  start_gateway "$cfg" "$OUT/$CAP_NAME-vg.log"
  if ! wait_running "$n" 20 "$CAP_COUNT"; then
    stop_gateway
    STEP_PASS=0 STEP_MIN=0 STEP_DET="" STEP_ALL=""
    STEP_NOTE=" (not all running in 20 s)"
    return
  fi
  sleep "$CAP_WARM"
  sample_sources s0
  sleep "$CAP_WIN"
  sample_sources s1
  stop_gateway
  t0=$s0_T t1=$s1_T
  # lowest output rate over the window (0 when a source is missing) and
  # the median detection rate of the sources
  STEP_MIN=$(awk -v dt="$(calc "$t1 - $t0")" -v n="$n" -v c="$col" '
    NR == FNR { f0[$1] = $c; next }
    { fps = ($1 in f0) ? ($c - f0[$1]) / dt : 0; if (k++ == 0 || fps < m) m = fps }
    END { printf "%.2f\n", (k < n || dt <= 0) ? 0 : m }' <(echo "$s0") <(echo "$s1"))
  # every source's rate, for the log
  STEP_ALL=$(awk -v dt="$(calc "$t1 - $t0")" -v c="$col" 'NR == FNR { f0[$1] = $c; next }
    ($1 in f0) && dt > 0 { printf "%s%.1f", (k++ ? " " : ""), ($c - f0[$1]) / dt }' <(echo "$s0") <(echo "$s1"))
  STEP_DET=""
  # shellcheck disable=SC2046
  [ -n "$vision" ] && STEP_DET=$(median $(awk '{print $4}' <<<"$s1"))
  STEP_PASS=$(awk -v m="$STEP_MIN" -v t="$CAP_MIN_FPS" 'BEGIN{print (m >= t) ? 1 : 0}')
  STEP_NOTE=""
  [ -n "$STEP_DET" ] && STEP_NOTE=", median detections/s $STEP_DET"
  if [ -n "$STEP_DET" ] && [ -n "$CAP_MIN_DET" ] && awk -v d="$STEP_DET" -v t="$CAP_MIN_DET" 'BEGIN{exit !(d < t)}'; then
    STEP_PASS=0 STEP_NOTE="$STEP_NOTE (below $CAP_MIN_DET)"
  fi
  [ "$STEP_PASS" = 1 ] || STEP_NOTE="$STEP_NOTE (each source: ${STEP_ALL:-none})"
}

cap_step_ff() { # N; sets STEP_PASS STEP_MIN STEP_SPEED (lowest speed=)
  local n=$1 i pids=() t0 t1 f0=() f1=() fps m="" pre="$OUT/$CAP_NAME-ff"
  for ((i = 1; i <= n; i++)); do
    ff_progress "$pre$i.progress" "${CAP_FF[@]}" 2>/dev/null
    pids+=("$FF_PID")
  done
  sleep "$CAP_WARM"
  t0=$(now)
  for ((i = 1; i <= n; i++)); do f0+=("$(ff_frames "$pre$i.progress")"); done
  sleep "$CAP_WIN"
  t1=$(now)
  for ((i = 1; i <= n; i++)); do f1+=("$(ff_frames "$pre$i.progress")"); done
  for i in "${pids[@]}"; do stop_pid "$i"; done
  for ((i = 0; i < n; i++)); do
    fps=$(calc "(${f1[i]:-0} - ${f0[i]:-0}) / ($t1 - $t0)")
    if [ -z "$m" ] || awk -v a="$fps" -v b="$m" 'BEGIN{exit !(a < b)}'; then m=$fps; fi
  done
  STEP_MIN=$(printf '%.2f' "$m")
  STEP_SPEED=$(for ((i = 1; i <= n; i++)); do { grep -a '^speed=' "$pre$i.progress" || true; } | tail -1 | tr -dc '0-9.\n'; done | sort -g | head -1)
  for ((i = 1; i <= n; i++)); do rm -f "$pre$i.progress"; done
  STEP_PASS=$(awk -v m="$m" -v t="$CAP_MIN_FPS" 'BEGIN{print (m >= t) ? 1 : 0}')
  STEP_DET="" STEP_NOTE=", lowest speed= ${STEP_SPEED}x"
}

# cap_step KIND N: one step, logged; KIND is ffmpeg (CAP_FF, one process
# per camera), off (visiongate, vision off) or a detector (visiongate,
# that detector at 5/s: people, motion). With a detector, CAP_DET[N] gets
# the median detections/s of a passing step.
cap_step() {
  case $1 in
  ffmpeg) cap_step_ff "$2" ;;
  off) cap_step_vg "$2" "" ;;
  *) cap_step_vg "$2" "{detector: $1, fps: 5}" ;;
  esac
  log "  $1 N=$2: lowest fps $STEP_MIN$STEP_NOTE → $([ "$STEP_PASS" = 1 ] && echo pass || echo fail)"
  [ -n "$STEP_DET" ] && [ "$STEP_PASS" = 1 ] && CAP_DET[$2]=$STEP_DET
  return 0
}

# cap_search KIND START: the largest N that passes; sets CAP_RESULT.
# START 0: doubling from 1 then bisection; otherwise step from START.
cap_search() {
  local kind=$1 start=$2 lo hi mid n
  if [ "$start" -le 0 ]; then
    lo=0 n=1
    while :; do
      cap_step "$kind" "$n"
      if [ "$STEP_PASS" = 1 ]; then lo=$n; else hi=$n; break; fi
      if ((n >= CAP_MAX)); then hi=$((CAP_MAX + 1)); break; fi
      n=$((n * 2 > CAP_MAX ? CAP_MAX : n * 2))
    done
    while ((hi - lo > 1)); do
      mid=$(((lo + hi) / 2))
      cap_step "$kind" "$mid"
      if [ "$STEP_PASS" = 1 ]; then lo=$mid; else hi=$mid; fi
    done
    CAP_RESULT=$lo
    return
  fi
  n=$start
  cap_step "$kind" "$n"
  if [ "$STEP_PASS" = 1 ]; then
    while ((n < CAP_MAX)); do
      cap_step "$kind" $((n + 1))
      [ "$STEP_PASS" = 1 ] || break
      n=$((n + 1))
    done
    CAP_RESULT=$n
  else
    while ((n > 1)); do
      n=$((n - 1))
      cap_step "$kind" "$n"
      [ "$STEP_PASS" = 1 ] && break
    done
    [ "$STEP_PASS" = 1 ] || n=0
    CAP_RESULT=$n
  fi
}

part_capacity() {
  CAP_WARM=${CAP_WARM:-3}
  CAP_WIN=${CAP_WIN:-$([ "$QUICK" = 1 ] && echo 5 || echo 8)}
  log "== part 2: capacity (${CAP_WIN}s windows, $RUNS runs)"
  # what the search runs (see the top): transcoding the looped file
  local CAP_NAME=capacity CAP_URL="file://$CLIP720" CAP_COUNT=out CAP_MIN_DET=""
  local -a CAP_SETTINGS=("on_demand: false") CAP_FF=(-re -stream_loop -1 -i "$CLIP720" -an "${FF_X264[@]}" -f null -)
  local i kind prev_off=0 prev_people=0 prev_ff=0 off=() people=() ff=() ratios=() dets=()
  declare -gA CAP_DET=()
  local order=(off people ffmpeg) k j
  for ((i = 1; i <= RUNS; i++)); do
    log " run $i"
    # each run starts with another kind, so none always runs last on a
    # machine whose other load changes over time
    for ((j = 0; j < 3; j++)); do
      k=${order[(i - 1 + j) % 3]}
      case $k in
      off) cap_search off "$prev_off"; prev_off=$CAP_RESULT ;;
      people)
        CAP_DET=()
        cap_search people "$prev_people"; prev_people=$CAP_RESULT
        dets+=("${CAP_DET[$CAP_RESULT]:-0}")
        ;;
      ffmpeg) cap_search ffmpeg "$prev_ff"; prev_ff=$CAP_RESULT ;;
      esac
    done
    off+=("$prev_off"); people+=("$prev_people"); ff+=("$prev_ff")
    ratios+=("$(calc "($prev_ff > 0) ? $prev_off / $prev_ff : 0")")
    log " run $i: visiongate $prev_off (vision off), $prev_people (people 5/s), ffmpeg $prev_ff"
  done
  local mo mp mf mr md
  mo=$(median "${off[@]}"); mp=$(median "${people[@]}"); mf=$(median "${ff[@]}"); mr=$(median "${ratios[@]}"); md=$(median "${dets[@]}")
  {
    echo "### 2. Capacity"
    echo
    echo "Most 1280x720 30 fps cameras (the same looped H.264 file, encoded for nobody: \`on_demand: false\`) kept at ≥ $CAP_MIN_FPS fps each over a ${CAP_WIN} s window; median of $RUNS runs (spread). Target: visiongate with vision off ≥ 90% of ffmpeg's count."
    echo
    echo "| cameras at full rate | visiongate, vision off | visiongate, people 5/s | ffmpeg CLI, one process per camera | ratio vision off / ffmpeg |"
    echo "|---|---|---|---|---|"
    printf '| count (median, spread) | %s (%s) | %s (%s) | %s (%s) | %.2f (%s) |\n' \
      "$mo" "$(SPREAD_FMT=%d spread "${off[@]}")" "$mp" "$(SPREAD_FMT=%d spread "${people[@]}")" \
      "$mf" "$(SPREAD_FMT=%d spread "${ff[@]}")" "$mr" "$(SPREAD_FMT=%.2f spread "${ratios[@]}")"
    echo
    echo "With people on, the median source ran ${md} detections/s at the largest passing count."
  } >"$OUT/capacity.md"
  printf '{"window_s":%s,"runs":%s,"min_fps":%s,"visiongate_vision_off":%s,"visiongate_people":%s,"ffmpeg":%s,"ratio_median":%s,"people_detections_per_sec":%s,"per_run":{"visiongate_vision_off":%s,"visiongate_people":%s,"ffmpeg":%s,"ratio":%s}}\n' \
    "$CAP_WIN" "$RUNS" "$CAP_MIN_FPS" "$mo" "$mp" "$mf" "$mr" "$md" \
    "$(jarr "${off[@]}")" "$(jarr "${people[@]}")" "$(jarr "${ff[@]}")" "$(jarr "${ratios[@]}")" >"$OUT/capacity.json"
  cat "$OUT/capacity.md" >&2
}
