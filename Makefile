# hotline-gw — the two commands a newcomer needs:
#   make run    lab PBX + Redis + gateway in the foreground (Ctrl-C stops what it started)
#   make test   everything: unit, integration and end-to-end tests against the lab PBX
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go

# The build's identity (package buildinfo; -version, hotline_build_info):
# the latest v* tag without its v, else 0.0.0~git<commit time>.<short hash>,
# a Debian-ordered version either way.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' | grep . || \
  git log -1 --format='0.0.0~git%cd.%h' --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0.0.0)
LDFLAGS := -X github.com/hotline12345/hotline-gw/buildinfo.version=$(VERSION) \
  -X github.com/hotline12345/hotline-gw/buildinfo.revision=$(REVISION)

.PHONY: run test test-faults deps build package lab-up lab-down unit e2e vet fmt-check proto bench clean

run: deps build
	lab/run.sh

# Unit and integration packages run in parallel; the packages that drive the
# one lab PBX (test/...) run one at a time.
test: deps lab-up vet fmt-check
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/test/')
	$(GO) test -race -count=1 -timeout 50m -p 1 ./test/...

# The fault-injection suite alone (make test runs it too): Asterisk, Redis
# and the gateway killed under load, a second gateway joining and leaving.
test-faults: deps lab-up
	$(GO) test -race -count=1 -timeout 30m -p 1 -v ./test/faults/

deps:
	@lab/deps.sh
	$(GO) mod download

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# The Debian package (deploy/debian): the three binaries (static, stamped
# with VERSION), the systemd unit, /etc/hotline-gw/gateway.yaml with production
# defaults, the dashboard and rules. nfpm runs as a pinned Go module, outside
# this module's go.mod. DIST=dir puts the .deb elsewhere.
NFPM := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
DIST ?= dist
package:
	mkdir -p $(DIST)/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/bin/ ./cmd/hotline-gw ./cmd/hotlinectl ./cmd/ticket-sink
	sed 's|@PKG_BIN@|$(DIST)/bin|' deploy/debian/nfpm.yaml >$(DIST)/nfpm.yaml
	VERSION='$(VERSION)' $(GO) run $(NFPM) package --packager deb --config $(DIST)/nfpm.yaml --target $(DIST)/

lab-up:
	lab/up.sh

lab-down:
	lab/down.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Regenerate the committed protobuf code (api/hotline/v1) with pinned plugins.
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	$(GO) install $(PROTOC_GEN_GO)
	$(GO) install $(PROTOC_GEN_GO_GRPC)
	protoc -I api -I /usr/include \
	  --go_out=api --go_opt=paths=source_relative \
	  --go-grpc_out=api --go-grpc_opt=paths=source_relative \
	  api/hotline/v1/*.proto

# Load benchmark against the lab PBX: gateway vs minimal ARI app vs app_queue
# (see BENCHMARKS.md). Flags via BENCH_ARGS, e.g. BENCH_ARGS='-rates 25,50 -plateau 1000'.
bench: deps lab-up build
	$(GO) run ./bench $(BENCH_ARGS)

clean:
	rm -rf bin
