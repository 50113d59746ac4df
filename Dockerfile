# visiongate: multi-stage build on Debian 12 (bookworm) with the same
# packages as scripts/setup.sh.
#   docker build -t visiongate .
#   docker run --rm -p 8080:8080 -p 8554:8554 -p 8000-8001:8000-8001/udp \
#     -p 1935:1935 -p 8890:8890/udp -p 8189:8189/udp -p 8189:8189 visiongate

# hls.js for the web page comes from npm and is embedded in the binary;
# onnxruntime-node brings ONNX Runtime's CPU library (its install script,
# which downloads, never runs).
FROM node:20-bookworm AS ui
WORKDIR /ui
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The Go image is Debian 12 with Go 1.26 (Debian's own golang-go is 1.19).
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config gcc g++ make \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      libavdevice-dev libavfilter-dev libswresample-dev \
      libopencv-dev libturbojpeg0-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=ui /ui/node_modules/hls.js/dist/hls.min.js web/ui/static/vendor/hls.min.js
# The demo's pedestrians: OpenCV's vtest.avi from Debian's opencv-doc.
RUN cd /tmp && apt-get update && apt-get download opencv-doc \
 && dpkg -x opencv-doc_*.deb /tmp/doc \
 && cp /tmp/doc/usr/share/doc/opencv-doc/examples/data/vtest.avi /out-vtest.avi \
 && rm -rf /tmp/doc /tmp/opencv-doc_*.deb /var/lib/apt/lists/*
# schedtrace: keeps the Go runtime's monitor thread from sleeping deeply
# between frames (see VG_LDFLAGS in the Makefile).
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w -X runtime.godebugDefault=schedtrace=2147483647" -o /out/visiongate ./cmd/visiongate \
 # The runtime needs exactly the Debian packages that own the linked libraries.
 && ldd /out/visiongate | awk '/=> \//{print $3}' | xargs -r dpkg -S 2>/dev/null \
      | cut -d: -f1 | sort -u > /out/runtime-packages

FROM debian:12-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates ffmpeg opencv-data $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --uid 10001 --home-dir /var/lib/visiongate --create-home visiongate
COPY --from=build /out/visiongate /usr/local/bin/visiongate
# visiongate loads libonnxruntime.so.1 from beside its binary.
COPY --from=ui /ui/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 /usr/local/bin/
COPY --from=build /out-vtest.avi /usr/share/visiongate/vtest.avi
# glibc keeps freed memory in per-thread arenas; two keep RSS ~70 MiB lower
# under source churn (scripts/soak).
ENV MALLOC_ARENA_MAX=2
USER visiongate
# Models, class lists and cascades go in /var/lib/visiongate/models (beside
# the state file); sources added through the API name files there.
RUN mkdir -p /var/lib/visiongate/models
WORKDIR /var/lib/visiongate
# HTTP, RTSP (+ its UDP pair), RTMP, SRT, WebRTC (one UDP and one TCP port)
EXPOSE 8080 8554 8000/udp 8001/udp 1935 8890/udp 8189/udp 8189
ENTRYPOINT ["/usr/local/bin/visiongate"]
CMD ["--state", "/var/lib/visiongate/state.json"]
