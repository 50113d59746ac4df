#!/usr/bin/python3
"""Writes bench-results/README-table.md from the parts' JSON and Markdown:
a table of the issue's targets (met or not) and then each part's section.

    summary.py OUT_DIR "MODE DESCRIPTION" "PARTS RUN NOW"

Parts not run this time keep their last results, marked with their date.
"""

import json
import os
import platform
import sys
import time

out, mode, ran = sys.argv[1], sys.argv[2], sys.argv[3].split()


def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def verdict(ok):
    return "yes" if ok else "**no**"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


rows = []
t = load("transcode")
if t:
    r = t["ratio_median"]
    rows.append(("1. transcode CPU per frame, visiongate / ffmpeg", "%.3f (%.2f vs %.2f ms)" % (
        r, t["visiongate_cpu_ms_per_frame"], t["ffmpeg_cpu_ms_per_frame"]), "≤ 1.10", verdict(r <= 1.10)))
c = load("capacity")
if c:
    r = c["ratio_median"]
    rows.append(("2. 720p30 cameras at full rate, vision off / ffmpeg", "%s / %s = %.2f (people 5/s: %s)" % (
        c["visiongate_vision_off"], c["ffmpeg"], r, c["visiongate_people"]), "≥ 0.90", verdict(r >= 0.90)))
f = load("flask")
if f:
    v1, v4 = f["vg1"]["slowest_viewer_fps"], f["vg4"]["slowest_viewer_fps"]
    rows.append(("3. MJPEG fps per viewer, 1 / 4 viewers (visiongate; Flask)", "%s / %s (Flask %s / %s)" % (
        f["vg1"]["fps_per_viewer"], f["vg4"]["fps_per_viewer"], f["flask1"]["fps_per_viewer"],
        f["flask4"]["fps_per_viewer"]), "clip's 10 fps to every viewer", verdict(min(v1, v4) >= 9.5)))
lat = load("latency")
if lat and lat["rtsp"]["p50_ms"] is not None:
    p50, p99 = lat["rtsp"]["p50_ms"], lat["rtsp"]["p99_ms"]
    rows.append(("4. RTSP → RTSP latency p50 / p99", "%s / %s ms (MJPEG p50 %s, LL-HLS p50 %s)" % (
        p50, p99, lat["mjpeg"]["p50_ms"], lat["hls"]["p50_ms"]), "≤ 50 / ≤ 150 ms", verdict(p50 <= 50 and p99 <= 150)))
if lat and lat.get("webrtc-browser", {}).get("p50_ms") is not None:
    w = lat["webrtc-browser"]
    p50, p99 = w["p50_ms"], w["p99_ms"]

    def p50_of(k):
        v = lat.get(k, {}).get("p50_ms")
        return "%s ms" % v if v is not None else "n/a"
    rows.append(("4. camera → WebRTC → picture presented in Chromium, p50 / p99",
                 "%s / %s ms at %s fps (page's LL-HLS p50 %s, MJPEG p50 %s; MediaMTX WebRTC p50 %s)" % (
                     p50, p99, w["fps"], p50_of("hls-browser"), p50_of("mjpeg-browser"), p50_of("mediamtx-webrtc")),
                 "≤ 150 / ≤ 300 ms", verdict(p50 <= 150 and p99 <= 300)))
fo = load("fanout")
if fo:
    r = fo["ratio_median"]
    rows.append(("5. CPU, 170 readers / 1 reader", "%.2f (without MJPEG %.2f)" % (r, fo["ratio_no_mjpeg_median"]),
                 "≤ 1.25", verdict(r <= 1.25)))
v = load("vision")
if v:
    r = v["ratio_1thread_median"]
    rows.append(("6. inference time, ONNX Runtime / OpenCV DNN, same model, 1 thread", "%.2f (%.1f vs %.1f ms; 2 threads %.2f)" % (
        r, v["ort_ms_1thread"], v["opencv_ms_1thread"], v["ratio_2threads_median"]), "≤ 0.5", verdict(r <= 0.5)))
    rows.append(("6. tracker per update, 20 objects", "%.4f ms" % v["tracker_ms_median"], "≤ 0.2 ms",
                 verdict(v["tracker_ms_median"] <= 0.2)))
od = load("ondemand")
if od:
    r, c, ff = od["idle_ratio_on_demand"], od["cameras"], od["first_frame_ms"]
    rows.append(("7. idle CPU, one 720p30 camera, motion 5/s, nobody watching: on demand / ffmpeg decode",
                 "%.2f (%.3f vs %.3f cores; always encoding %.2f)" % (
                     r, od["idle_cores"]["on_demand"], od["idle_cores"]["ffmpeg"], od["idle_ratio_always_on"]),
                 "≤ 1.5", verdict(r <= 1.5)))
    rows.append(("7. 720p30 cameras, motion 5/s, nobody watching / ffmpeg decodes", "%s / %s = %.2f" % (
        c["visiongate"], c["ffmpeg"], c["ratio"]), "≥ 0.90", verdict(c["ratio"] >= 0.90)))
    worst = max(ff["rtsp_on_demand"], ff["hls_on_demand"], ff["rtsp_always_on"], ff["hls_always_on"])
    rows.append(("7. first decoded frame, new RTSP / LL-HLS reader, on demand (always encoding)",
                 "%.0f / %.0f ms (%.0f / %.0f)" % (ff["rtsp_on_demand"], ff["hls_on_demand"], ff["rtsp_always_on"],
                                                  ff["hls_always_on"]), "< 1000 ms", verdict(worst < 1000)))
pu = load("push")
if pu:
    c, q, d, ff = pu["cores"], pu["ratio_to_pulled"], pu["decoded_fps"], pu["first_frame_ms"]
    slowest = min(v for v in d.values() if v is not None)
    rows.append(("8. CPU per 720p30 stream pushed over RTSP / RTMP / SRT, ratio to the same pulled over RTSP",
                 "%.2f / %.2f / %.2f (%.3f / %.3f / %.3f vs %.3f cores); decoded at ≥ %.1f fps" % (
                     q["rtsp"], q["rtmp"], q["srt"], c["rtsp"], c["rtmp"], c["srt"], c["pull"], slowest),
                 "every input at full rate (≥ 28.5 fps)", verdict(slowest >= 28.5)))
    rows.append(("8. publish to a new RTSP reader's first decoded picture, RTSP / RTMP / SRT",
                 "%.0f / %.0f / %.0f ms" % (ff["rtsp"], ff["rtmp"], ff["srt"]), "none set (RTMP: about 2 s to name tracks)",
                 "–"))
pe = load("peers")
if pe:
    m, t, f = pe["per_reader_pct_core"], pe["transcode"], pe["hundred_readers_fps"]
    r = pe["per_reader_ratio_median"]
    rows.append(("9. CPU per extra RTSP/TCP reader of a relayed 720p30 camera (1 → 100 readers), visiongate / MediaMTX %s"
                 % pe["mediamtx_version"], "%s (%.3f vs %.3f %% of a core; slowest reader %.1f / %.1f fps)" % (
                     "n/a" if r is None else "%.2f" % r, m["visiongate"], m["mediamtx"], f["visiongate"]["slowest"],
                     f["mediamtx"]["slowest"]), "none set (side by side)", "–"))
    r = t["ratio_median"]
    rows.append(("9. transcoding with 1 RTSP reader, visiongate / `ffmpeg` CLI (decode + libx264 to null), same camera",
                 "%.3f (%.3f vs %.3f cores; %.1f vs %.1f fps; per frame %.3f)" % (
                     r, t["visiongate_cores"], t["ffmpeg_cores"], t["visiongate_fps_out"], t["ffmpeg_fps"],
                     t["ratio_per_frame_median"]),
                 "≤ 1.05", verdict(r <= 1.05)))

with open(os.path.join(out, "README-table.md"), "w") as w:
    w.write("## Benchmark results\n\n")
    w.write("`scripts/bench` %s, %s, on %s (%d CPUs), %s. The machine may be shared; ratios taken run by run "
            "are the figures to compare.\n\n" % (mode, time.strftime("%Y-%m-%d"), cpu_model(), os.cpu_count(),
                                                  platform.system()))
    w.write("| target | result | goal | met |\n|---|---|---|---|\n")
    for row in rows:
        w.write("| %s | %s | %s | %s |\n" % row)
    for part in ("transcode", "capacity", "flask", "latency", "fanout", "vision", "ondemand", "push", "peers"):
        path = os.path.join(out, part + ".md")
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if part not in ran:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))
            text = text.replace("\n", " *(from an earlier run, %s)*\n" % when, 1)
        w.write("\n" + text)
