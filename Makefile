# visiongate: `make run` serves the demo, `make test` runs every test.
# Both install what is missing first (Debian packages, Go modules).
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/visiongate
ARGS ?=

# Packages without libav/OpenCV run under the race detector.
RACE_PKGS := ./gateway/config/... ./gateway/hub/... ./gateway/media/... ./gateway/mjpeg/... ./gateway/rtsp/... ./web/...

.PHONY: setup testdata build run test vet fuzz clean

setup:
	@scripts/setup.sh

# OpenCV's sample clips for the vision tests, from Debian's opencv-doc.
testdata: setup
	@scripts/testdata.sh

build: setup
	$(GO) build -o $(BIN) ./cmd/visiongate

run: build
	./$(BIN) $(ARGS)

vet: setup
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: vet testdata
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 15m ./...
	# gocv's Mat profile: every Mat the detectors make is closed again.
	$(GO) test -count=1 -tags matprofile -run NoLeakedMats ./vision/...

# Longer fuzz runs; `make test` only runs the seed corpora.
FUZZTIME ?= 60s
fuzz: setup
	$(GO) test ./web/ -run '^$$' -fuzz FuzzCreateSource -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/config/ -run '^$$' -fuzz FuzzParseSourceURL -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
