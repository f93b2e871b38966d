# keepclear — see README.md.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/keepclear
FUZZTIME  ?= 30s
# Fuzz targets as package:target; `make test` runs each briefly.
FUZZ_TARGETS := \
	./internal/feed:FuzzNDJSON ./internal/feed:FuzzCSV ./internal/feed:FuzzGPX \
	./internal/feed:FuzzParseTime ./internal/feed:FuzzOwnTracks ./internal/feed:FuzzOsmAnd \
	./internal/site:FuzzLoad ./internal/site:FuzzParseHours

.PHONY: all web build run replay-demo test unit browser fuzz fuzz-short bench lint clean

all: build

# The dashboard's map libraries come from npm (never committed): installed
# and copied into web/static/vendor, where the Go build embeds them.
web: web/node_modules/.package-lock.json
	cd web && npm run --silent build

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/keepclear

# The server on the embedded SQLite file keepclear.db with the sample sites,
# and a simulated patrol so the live map moves. It prints the URL and, on a
# new database, an admin and an agency token.
run: build
	$(BIN) serve --demo

# The engine offline: a simulated two-hour patrol, replayed.
replay-demo: build
	@mkdir -p out
	$(BIN) sim --sites fixtures/sites.geojson --duration 2h --vehicles 20 --seed 1 > out/sim.ndjson
	$(BIN) replay --sites fixtures/sites.geojson out/sim.ndjson > out/events.ndjson
	@echo; echo "First events (all of them are in out/events.ndjson):"; head -n 5 out/events.ndjson

test: lint build fuzz-short browser unit

# The dashboard in headless Chromium (Debian's chromium package).
browser: build
	cd web && KEEPCLEAR_BIN=$(CURDIR)/$(BIN) npm test --silent

unit:
	$(GO) test -race -count=1 ./...

# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" as the time runs out
# on a busy machine (golang/go#75804, fixed in Go 1.27).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=50000x

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME); \
	done

# Per-core figures: -cpu 1. See README.md "Performance" for the numbers.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 3 ./geo ./internal/feed ./internal/replay
	$(GO) test -run '^$$' -bench DeviceState -benchtime 1x -cpu 1 ./internal/monitor
	$(GO) test -run '^$$' -bench ReplayProcess -benchtime 3x ./cmd/keepclear

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@! $(GO) list -deps ./geo | grep -q 'keepclear/internal' || { echo "geo/ must not import internal/"; exit 1; }

clean:
	rm -rf bin out
