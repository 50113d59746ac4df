# shellcheck shell=bash
# Part 4, latency: a bench camera (gortsplib server in `vgbench latency`)
# sends a 1280x720 30 fps H.264 clip over RTSP/TCP to a visiongate it
# starts (vision off, libx264 veryfast zerolatency) and logs when each
# access unit was sent. Then one reader at a time, each for its own window:
#  - RTSP: a gortsplib client of visiongate's output; a frame has arrived
#    when its last RTP packet (marker bit) has. Frames are matched by
#    timestamp: the camera leaves slots empty at irregular, never-repeating
#    intervals and visiongate keeps input timestamps (plus a constant), so
#    the one offset under which every received frame falls on a sent slot
#    identifies each frame exactly.
#  - MJPEG: /mjpeg/NAME; a picture has arrived when its part has. The clip
#    carries its frame number as black/white squares (vgbench codefilter);
#    the picture's number is read back and matched to the newest send of
#    that clip frame.
#  - LL-HLS: the reader asks for the EXT-X-PRELOAD-HINT part (answered when
#    the part is complete) and reloads the playlist for the next; a frame
#    has arrived when its part has; frames are matched by their fMP4 decode
#    times as for RTSP. A player's buffer comes on top of this.
# Latency = arrival − send, on one monotonic clock (camera and readers are
# one process). p50/p95/p99 per run; the table shows the medians over runs.

latency_clip() {
  LAT_CLIP="$OUT/latency-cam.h264"
  [ -f "$LAT_CLIP" ] || ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -t 10 -vf "$(bin/vgbench codefilter)" -c:v libx264 -preset veryfast -tune zerolatency -g 30 -bf 0 \
    -pix_fmt yuv420p -x264-params aud=1 -f h264 -y "$LAT_CLIP"
}

part_latency() {
  L_WIN=${L_WIN:-$([ "$QUICK" = 1 ] && echo 6 || echo 10)}
  log "== part 4: latency (${L_WIN}s windows per output, $RUNS runs)"
  latency_clip
  local i files=() f
  for ((i = 1; i <= RUNS; i++)); do
    f="$OUT/latency-run$i.json"
    bin/vgbench latency -bin bin/visiongate -clip "$LAT_CLIP" -dir "$OUT" -settle 3s -window "${L_WIN}s" >"$f" &
    local pid=$!
    bg_track "$pid"
    wait "$pid" || die "part 4: vgbench latency failed (see $OUT/latency-vg.log)"
    stop_pid "$pid"
    files+=("$f")
    log "  run $i: $($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("; ".join("%s p50 %.1f p95 %.1f p99 %.1f ms (%d/%d matched, %.1f fps)%s" % (k, d[k]["p50_ms"], d[k]["p95_ms"],
      d[k]["p99_ms"], d[k]["matched"], d[k]["received"], d[k]["fps"], " ERROR " + d[k]["error"] if d[k].get("error") else "")
      for k in ("rtsp", "mjpeg", "hls")))' "$f")"
  done
  $PY - "$OUT" "$L_WIN" "${files[@]}" <<'EOF'
import json, statistics, sys
out, win, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
res = {"window_s": int(win), "runs": len(runs), "method": "see scripts/bench.d/latency.sh"}
rows = []
names = {"rtsp": "RTSP in → RTSP out", "mjpeg": "RTSP in → MJPEG part", "hls": "RTSP in → LL-HLS part (preload hint)"}
for k in ("rtsp", "mjpeg", "hls"):
    r = {}
    for p in ("p50_ms", "p95_ms", "p99_ms"):
        vals = [x[k][p] for x in runs if x[k]["matched"] > 0]
        r[p] = round(statistics.median(vals), 1) if vals else None
        r[p + "_runs"] = vals
    r["matched"] = sum(x[k]["matched"] for x in runs)
    r["received"] = sum(x[k]["received"] for x in runs)
    r["errors"] = [x[k]["error"] for x in runs if x[k].get("error")]
    res[k] = r
    def cell(p):
        v = r[p + "_runs"]
        return "%s (%.0f–%.0f)" % (r[p], min(v), max(v)) if v else "n/a"
    rows.append("| %s | %s | %s | %s | %d/%d |" % (names[k], cell("p50_ms"), cell("p95_ms"), cell("p99_ms"), r["matched"], r["received"]))
json.dump(res, open(out + "/latency.json", "w"))
with open(out + "/latency.md", "w") as f:
    f.write("### 4. Latency\n\n")
    f.write("Bench camera → visiongate (RTSP/TCP, 1280x720 30 fps, vision off, libx264 veryfast zerolatency) → one reader; "
            "each frame from the camera's send to its arrival, matched by timestamp (RTSP, HLS) or by the frame number "
            "burned into the picture (MJPEG); %s s per output, median of %d runs (spread), ms. "
            "Target RTSP: p50 ≤ 50, p99 ≤ 150.\n\n" % (win, len(runs)))
    f.write("| path | p50 | p95 | p99 | frames matched |\n|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
EOF
  cat "$OUT/latency.md" >&2
}
