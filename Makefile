# hotline-gw — the two commands a newcomer needs:
#   make run    lab PBX + Redis + gateway in the foreground (Ctrl-C stops what it started)
#   make test   everything: unit, integration and end-to-end tests against the lab PBX
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go

.PHONY: run test test-faults deps build lab-up lab-down unit e2e vet fmt-check proto bench clean

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
	$(GO) build -o bin/ ./cmd/...

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
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	$(GO) install $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)
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
