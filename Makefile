# cset: see README.md. Every target works with only Go installed, except `proto` (protoc) and
# the DNS interop tests (dig, named), which .ci/run installs.
GO        ?= go
BIN       := bin
PKGS      := ./...
PROTOC    ?= protoc
GOBIN     := $(shell $(GO) env GOPATH)/bin
# VERSION stamps the binaries (csetd version, csetctl version): the release tag (v0.1.0) or
# the tag, commits since and commit (v0.1.0-3-gabc1234), "-dirty" with local changes.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build cross package dev test test-short test-integration bench proto lint fuzz-short clean
.PHONY: chaos chaos-seeds

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# cross compiles every command for the platforms cset ships on (ECX runs on Windows Server and
# RHEL): windows/amd64, linux/amd64, linux/arm64. The binaries land in $(BIN)/GOOS-GOARCH/.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build -o $(BIN)/windows-amd64/ ./cmd/...
	GOOS=linux GOARCH=amd64 $(GO) build -o $(BIN)/linux-amd64/ ./cmd/...
	GOOS=linux GOARCH=arm64 $(GO) build -o $(BIN)/linux-arm64/ ./cmd/...

# package builds the .deb and .rpm of cset for linux/amd64 and linux/arm64 into dist/ with nfpm
# (packaging/, a module of its own so that nfpm's dependencies stay out of cset's):
# binaries stamped with VERSION, packages numbered PKG_VERSION, the systemd units, a default configuration, csetctl's man pages
# and completions, the docs (docs/deployment.md).
PKG_VERSION ?= 0.1.0
package:
	rm -rf $(BIN)/pkg dist
	$(GO) build -o $(BIN)/pkg/host/ ./cmd/csetctl
	$(BIN)/pkg/host/csetctl gen-docs --man $(BIN)/pkg/docs/man --completions $(BIN)/pkg/docs/completions
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/pkg/linux-$$arch/ ./cmd/csetd ./cmd/csetctl || exit 1; \
		(cd packaging && $(GO) run . -version $(PKG_VERSION) -arch $$arch -bin ../$(BIN)/pkg/linux-$$arch -docs ../$(BIN)/pkg/docs -root .. -out ../dist) || exit 1; \
	done

dev: build
	$(BIN)/csetd agent -dev

test:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

test-integration: build
	$(GO) test -count=1 -timeout 30m -run . ./integration/...

# Long fault-injection runs (docs/chaos.md): make chaos SEED=42 STEPS=300; SEED=0 draws a seed;
# WITNESSES=3 runs three witnesses and their faults.
SEED  ?= 0
STEPS ?= 200
WITNESSES ?= 1
chaos:
	$(GO) test -count=1 -timeout 0 -run TestChaos ./integration/chaos/ -args -seed=$(SEED) -steps=$(STEPS) -witnesses=$(WITNESSES)

# Several seeds, JOBS at a time, one summary line each and the totals (docs/chaos.md):
# make chaos-seeds SEEDS=10 STEPS=200 JOBS=2 FIRST=1 [WITNESSES=3]
SEEDS ?= 10
JOBS  ?= 2
FIRST ?= 1
chaos-seeds:
	bench/chaos-seeds.sh -s $(FIRST) -n $(SEEDS) -t $(STEPS) -j $(JOBS) -w $(WITNESSES)

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./fsm/ ./scheduler/ ./dnsserver/ ./probe/
	$(GO) test -count=1 -run '^$$' -bench BenchmarkProber -benchtime 1x ./controller/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench/...

# BIND 9, Knot DNS, csetdns and a real one-node csetd serving the same 10,000 names, each pinned to
# one CPU, measured with dnsperf (docs/benchmarks-dns.md). Needs root to apt-get the tools when they
# are missing; ROUNDS, DURATION, NAMES, SERVERS and PROFILE_DIR pass through to the script.
.PHONY: bench-dns
bench-dns:
	bench/dns.sh

proto:
	PATH="$(GOBIN):$$PATH" $(PROTOC) -I proto -I /usr/include \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/cset/fsm/v1/fsm.proto proto/cset/api/v1/access.proto proto/cset/api/v1/api.proto

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -run TestImportRules ./cmd/csetd/

fuzz-short:
	$(GO) test -run '^$$' -fuzz FuzzDecodeLogEntry -fuzztime 30s ./fsm/

clean:
	rm -rf $(BIN)
