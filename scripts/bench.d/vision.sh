# shellcheck shell=bash
# Part 6, predictions: ms per inference of ONNX Runtime against OpenCV DNN
# on the same model (the benchmark conv net of scripts/testmodels.py, about
# 2 GFLOPs at 640x640, which both can run), at 1 and 2 threads, taken side
# by side in each run (go test -bench BenchmarkRuntimes: letterbox, input
# tensor, inference and decoding per op); the tracker's cost per update
# with 20 moving objects (BenchmarkUpdate20); and detections per second per
# camera from the shared worker pool with 1-8 cameras at 30 fps asking for
# 5 a second (BenchmarkPoolPerCamera).

vision_bench() { # PKG PATTERN BENCHTIME → benchmark lines on stdout
  go test -run '^$' -bench "$2" -benchtime "$3" "$1" 2>/dev/null | grep '^Benchmark'
}

# metric LINES NAME UNIT: the value before UNIT on the line whose name starts with NAME.
metric() { awk -v n="$2" -v u="$3" 'index($1, n) == 1 { for (i = 2; i <= NF; i++) if ($i == u) print $(i - 1) }' <<<"$1"; }

part_vision() {
  local n i out ort1 cv1 ort2 cv2 r1=() r2=() o1=() c1=() o2=() c2=() trk=() pool
  n=$([ "$QUICK" = 1 ] && echo 10x || echo 40x)
  log "== part 6: predictions ($RUNS runs)"
  for ((i = 1; i <= RUNS; i++)); do
    out=$(vision_bench ./vision/ 'Runtimes' "$n")
    ort1=$(metric "$out" BenchmarkRuntimes/onnxruntime/threads=1 ms/detection)
    cv1=$(metric "$out" BenchmarkRuntimes/opencv/threads=1 ms/detection)
    ort2=$(metric "$out" BenchmarkRuntimes/onnxruntime/threads=2 ms/detection)
    cv2=$(metric "$out" BenchmarkRuntimes/opencv/threads=2 ms/detection)
    o1+=("$ort1"); c1+=("$cv1"); o2+=("$ort2"); c2+=("$cv2")
    r1+=("$(calc "$ort1 / $cv1")"); r2+=("$(calc "$ort2 / $cv2")")
    out=$(vision_bench ./vision/track/ 'Update20$' 20000x)
    trk+=("$(calc "$(metric "$out" BenchmarkUpdate20 ns/op) / 1000000")")
    log "$(printf 'run %d: 1 thread onnxruntime %.1f ms, opencv %.1f ms (%.2f); 2 threads %.1f / %.1f ms (%.2f); tracker %.4f ms' \
      "$i" "$ort1" "$cv1" "${r1[-1]}" "$ort2" "$cv2" "${r2[-1]}" "${trk[-1]}")"
  done
  pool=$(vision_bench ./vision/ 'PoolPerCamera' 1x)
  log "$pool"
  vision_report "$pool"
}

vision_report() { # POOL_LINES
  local k row
  {
    echo "### 6. Predictions"
    echo
    echo "Same model (2 GFLOPs conv net, 640x640, opset 12) through each runtime; ratio taken run by run (target ≤ 0.5). Tracker: one update with 20 moving objects (target ≤ 0.2 ms). $RUNS runs."
    echo
    echo "| measure | ONNX Runtime | OpenCV DNN | ratio (median, spread) |"
    echo "|---|---|---|---|"
    printf '| ms per inference, 1 thread | %.1f | %.1f | %.2f (%s) |\n' "$(median "${o1[@]}")" "$(median "${c1[@]}")" "$(median "${r1[@]}")" "$(spread "${r1[@]}")"
    printf '| ms per inference, 2 threads | %.1f | %.1f | %.2f (%s) |\n' "$(median "${o2[@]}")" "$(median "${c2[@]}")" "$(median "${r2[@]}")" "$(spread "${r2[@]}")"
    printf '\nTracker: %.4f ms per update with 20 objects (%s).\n' "$(median "${trk[@]}")" "$(spread "${trk[@]}")"
    echo
    echo "| cameras (30 fps, 5 detections/s asked) | detections/s per camera | video fps per camera |"
    echo "|---|---|---|"
    for k in 1 2 4 8; do
      row=$(grep "cameras=$k-" <<<"$1" || true)
      printf '| %d | %s | %s |\n' "$k" "$(metric "$row" "BenchmarkPoolPerCamera/cameras=$k" detections/s/camera)" \
        "$(metric "$row" "BenchmarkPoolPerCamera/cameras=$k" fps/camera)"
    done
  } >"$OUT/vision.md"
  printf '{"runs":%s,"ratio_1thread_median":%s,"ratio_2threads_median":%s,"ort_ms_1thread":%s,"opencv_ms_1thread":%s,"tracker_ms_median":%s,"per_run":{"ratio_1thread":%s,"ratio_2threads":%s,"tracker_ms":%s}}\n' \
    "$RUNS" "$(median "${r1[@]}")" "$(median "${r2[@]}")" "$(median "${o1[@]}")" "$(median "${c1[@]}")" "$(median "${trk[@]}")" \
    "$(jarr "${r1[@]}")" "$(jarr "${r2[@]}")" "$(jarr "${trk[@]}")" >"$OUT/vision.json"
  cat "$OUT/vision.md" >&2
}
