# visiongate: `make run` serves the demo, `make test` runs every test.
# Both install what is missing first (Debian packages, Go modules, npm
# packages); only `make test` installs what just the tests need.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/visiongate
ARGS ?=
# The Go runtime's monitor thread sleeps deeply while every goroutine
# waits, and the next cgo call wakes it into polling every 20 µs for about
# a millisecond: once per frame here, ~1,500 wake-ups a second and ~8% of
# a transcoded camera's CPU (golang/go#18236; scripts/bench part 9). A
# scheduler-trace period of 24.8 days keeps it from sleeping deeply, so it
# stays at its 10 ms pace. It prints one scheduler line at start on hosts
# up longer than that; GODEBUG in the environment still overrides it.
VG_LDFLAGS ?= -X runtime.godebugDefault=schedtrace=2147483647

# The race detector runs on every package but the end-to-end ones (app,
# cmd); their goroutines are covered through the packages below.
RACE_PKGS := ./gateway/config/... ./gateway/hub/... ./media/... ./gateway/mjpeg/... \
	./gateway/rtsp/... ./gateway/hls/... ./gateway/manager/... ./gateway/pipeline/... ./gateway/mqtt/... \
	./transcode/... ./web/... ./vision/... ./gateway/api/... ./gateway/output/... ./gateway/pictures/... \
	./gateway/publish/... ./gateway/rtmp/... ./gateway/srt/... ./internal/batchconn/... ./gateway/webrtc/...

.PHONY: setup setup-test testdata build run test vet fuzz fuzz-short clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

# OpenCV's sample clips (the demo's pedestrians and the vision tests'
# footage), from Debian's opencv-doc.
testdata: setup
	@scripts/testdata.sh

build: setup
	$(GO) build -ldflags '$(VG_LDFLAGS)' -o $(BIN) ./cmd/visiongate

run: build testdata
	./$(BIN) $(ARGS)

vet: setup-test
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: vet testdata
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/gateway/app$$')
	# Whether hardware codecs were tested: they are where a device works.
	@$(GO) test -count=1 -v -run 'TestHardwareCodecsWhereAvailable$$' ./transcode/ | grep -E 'HARDWARE|hardware codecs' || true
	# The end-to-end tests run alone: they check frame rates and drive a
	# browser, which other packages' tests would starve on two cores.
	$(GO) test -count=1 -timeout 15m ./gateway/app/
	# gocv's Mat profile: every Mat the detectors make is closed again.
	$(GO) test -count=1 -tags matprofile -run 'NoLeakedMats|ChurnLeaks' ./vision/... ./gateway/app/
	@$(MAKE) -s fuzz-short

# Fuzzers: `make test` runs each briefly (after their committed corpora as
# plain tests): 3000 executions, or the count after @ for the slow ones
# (each execution of FuzzHostileCamera is an RTSP session);
# `make fuzz FUZZTIME=10m` for real runs.
FUZZERS := ./web/:FuzzCreateSource ./gateway/config/:FuzzParseSourceURL \
	./transcode/:FuzzDecodeCorruptH264 ./media/:FuzzSplitAnnexB \
	./gateway/pipeline/:FuzzTimelineMonotonic ./gateway/mqtt/:FuzzTopicLevel \
	./vision/track/:FuzzTrackerUpdate ./vision/analytics/:FuzzAnalytics \
	./gateway/config/:FuzzMaskURL ./transcode/:FuzzHostileCamera@60x \
	./gateway/rtmp/:FuzzRTMPStreamURL ./gateway/rtmp/:FuzzRTMPVideo ./gateway/rtmp/:FuzzRTMPAudio \
	./gateway/srt/:FuzzParseStreamID ./gateway/srt/:FuzzCheckTS ./internal/batchconn/:FuzzTransfer@300x \
	./transcode/rtspin/:FuzzHostileCamera@60x
FUZZTIME ?= 60s
SHORT ?=
fuzz: setup-test
	@for f in $(FUZZERS); do \
	  name=$${f#*:}; time=$(FUZZTIME); \
	  case $$name in *@*) [ -n "$(SHORT)" ] && time=$${name#*@}; name=$${name%@*};; esac; \
	  echo "fuzz $$name for $$time"; \
	  $(GO) test $${f%%:*} -run '^$$' -fuzz "^$$name$$" -fuzztime $$time || exit 1; \
	done

fuzz-short:
	@$(MAKE) -s fuzz FUZZTIME=3000x SHORT=1

clean:
	rm -rf bin
