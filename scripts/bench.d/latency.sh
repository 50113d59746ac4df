# shellcheck shell=bash
# Part 4, latency: a bench camera (gortsplib server in `vgbench latency`)
# sends a 1280x720 30 fps H.264 clip over RTSP/TCP to a visiongate it
# starts (vision off: no detector, a pure transport figure; libx264
# veryfast zerolatency) and logs when each access unit was sent. Then one
# reader at a time, each for its own window:
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
#  - Chromium, glass to glass on decoded pictures: e2e/latency.mjs drives
#    Debian's chromium (headless, software decoding, playwright-core) to
#    visiongate's page /?source=NAME, which plays the source with its own
#    player: WebRTC (WHEP, the default), then in new browsers HLS (hls.js,
#    low latency mode) and MJPEG (<img>) through the card's buttons; and,
#    for comparison, MediaMTX relaying the same camera (RTSP/TCP in, no
#    transcode) over WHEP on loopback, played by the page's whep.js in a
#    bare page. Every picture the page presents is drawn into a canvas and
#    its frame code read: a <video> picture is timed by
#    requestVideoFrameCallback's presentationTime (handed to the
#    compositor), an <img> picture by the animation frame that first shows
#    it. Page times are wall clock (performance.timeOrigin + the page's
#    clock, checked against Date.now()) and are converted to the camera
#    log's clock; pictures are matched by code as for MJPEG. The window
#    starts once the player shows a readable picture and has settled; fps
#    is pictures presented per second. These rows need node,
#    node_modules/playwright-core and chromium (LAT_BROWSER=0 leaves them
#    out); the MediaMTX row needs MediaMTX (scripts/bench.d/mediamtx.sh).
# Latency = arrival − send. p50/p95/p99 per run; the table shows the
# medians over runs.

latency_clip() {
  LAT_CLIP="$OUT/latency-cam.h264"
  [ -f "$LAT_CLIP" ] || ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -t 10 -vf "$(bin/vgbench codefilter)" -c:v libx264 -preset veryfast -tune zerolatency -g 30 -bf 0 \
    -pix_fmt yuv420p -x264-params aud=1 -f h264 -y "$LAT_CLIP"
}

# latency_phases: sets LAT_PHASES to what part 4 can measure here (and
# MTX_BIN for the MediaMTX row).
latency_phases() {
  LAT_PHASES=rtsp,mjpeg,hls
  if [ "${LAT_BROWSER:-1}" = 0 ]; then
    log "  browser rows left out (LAT_BROWSER=0)"
    return
  fi
  if ! command -v node >/dev/null || [ ! -f node_modules/playwright-core/package.json ] ||
    [ ! -x "${VG_CHROMIUM:-/usr/bin/chromium}" ]; then
    log "  browser rows left out: node, node_modules/playwright-core (npm ci) or ${VG_CHROMIUM:-/usr/bin/chromium} missing"
    return
  fi
  LAT_PHASES+=,webrtc-browser,hls-browser,mjpeg-browser
  # shellcheck source=/dev/null # mediamtx.sh: build_mediamtx (MediaMTX, for the comparison)
  . scripts/bench.d/mediamtx.sh
  if (build_mediamtx) && build_mediamtx; then # the subshell tries without dying
    LAT_PHASES+=,mediamtx-webrtc
  else
    log "  MediaMTX row left out (no MediaMTX binary: see scripts/bench.d/mediamtx.sh)"
  fi
}

part_latency() {
  L_WIN=${L_WIN:-$([ "$QUICK" = 1 ] && echo 6 || echo 10)}
  latency_clip
  latency_phases
  log "== part 4: latency (${L_WIN}s windows per output, $RUNS runs: $LAT_PHASES)"
  local i files=() f
  for ((i = 1; i <= RUNS; i++)); do
    f="$OUT/latency-run$i.json"
    bin/vgbench latency -bin bin/visiongate -clip "$LAT_CLIP" -dir "$OUT" -settle 3s -window "${L_WIN}s" \
      -phases "$LAT_PHASES" -mediamtx "${MTX_BIN:-}" >"$f" &
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
      for k in sys.argv[2].split(",")))' "$f" "$LAT_PHASES")"
  done
  $PY - "$OUT" "$L_WIN" "$LAT_PHASES" "${MEDIAMTX_VERSION:-}" "${files[@]}" <<'EOF'
import json, statistics, sys
out, win, phases, mtx, files = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], sys.argv[5:]
runs = [json.load(open(f)) for f in files]
res = {"window_s": int(win), "runs": len(runs), "phases": phases, "method": "see scripts/bench.d/latency.sh"}
rows = []
names = {
    "rtsp": "RTSP in → RTSP out",
    "mjpeg": "RTSP in → MJPEG part",
    "hls": "RTSP in → LL-HLS part (preload hint)",
    "webrtc-browser": "RTSP in → WebRTC → Chromium (page's player), picture presented",
    "hls-browser": "RTSP in → LL-HLS → Chromium (page's hls.js, low latency), picture presented",
    "mjpeg-browser": "RTSP in → MJPEG → Chromium (page's <img>), picture shown",
    "mediamtx-webrtc": "MediaMTX %s: RTSP in → WebRTC (relayed, no transcode) → Chromium (whep.js), picture presented"
                       % mtx,
}
for k in phases:
    per = [x[k] for x in runs if k in x]
    ok = [p for p in per if p["matched"] > 0]
    r = {}
    for p in ("p50_ms", "p95_ms", "p99_ms", "fps"):
        vals = [x[p] for x in ok]
        r[p] = round(statistics.median(vals), 1) if vals else None
        r[p + "_runs"] = vals
    r["matched"] = sum(p["matched"] for p in per)
    r["received"] = sum(p["received"] for p in per)
    r["errors"] = [p["error"] for p in per if p.get("error")]
    if any("browser" in p for p in per):
        r["browser"] = [p.get("browser") for p in per]
    res[k] = r

    def cell(p):
        v = r[p + "_runs"]
        return "%s (%.0f–%.0f)" % (r[p], min(v), max(v)) if v else "n/a"
    rows.append("| %s | %s | %s | %s | %s | %d/%d |" % (
        names.get(k, k), cell("p50_ms"), cell("p95_ms"), cell("p99_ms"),
        r["fps"] if r["fps"] is not None else "n/a", r["matched"], r["received"]))
json.dump(res, open(out + "/latency.json", "w"))
with open(out + "/latency.md", "w") as f:
    f.write("### 4. Latency\n\n")
    f.write("Bench camera → visiongate (RTSP/TCP, 1280x720 30 fps, vision off, libx264 veryfast zerolatency) → one reader; "
            "each frame from the camera's send to its arrival, matched by timestamp (RTSP, HLS) or by the frame number "
            "burned into the picture (MJPEG, and every picture Chromium presents: headless, software decoding, loopback); "
            "%s s per output, median of %d runs (spread), ms; fps: frames (Chromium: pictures presented) per second. "
            "Target RTSP: p50 ≤ 50, p99 ≤ 150; WebRTC in Chromium: p50 ≤ 150, p99 ≤ 300.\n\n" % (win, len(runs)))
    f.write("| path | p50 | p95 | p99 | fps | frames matched |\n|---|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
    errs = ["%s: %s" % (k, e) for k in phases for e in res[k]["errors"]]
    if errs:
        f.write("\nErrors: " + "; ".join(errs) + "\n")
EOF
  cat "$OUT/latency.md" >&2
}
