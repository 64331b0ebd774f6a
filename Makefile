# smsledger — developer and CI entry points. `make test` is what CI runs.

GO ?= go

.PHONY: all test fmt-check vet build bench console-screenshots clean

all: test build

## test: gofmt check, go vet, and the full test suite under the race detector.
## Tests get PostgreSQL from DATABASE_URL, or start an embedded one per test
## binary (initdb/postgres on PATH or under /usr/lib/postgresql/*/bin).
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 45m ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## build: the smsledger binary in ./bin.
build:
	$(GO) build -o bin/smsledger ./cmd/smsledger

## bench: all benchmarks (no tests), e.g. the event store's durable appends.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 45m ./...

## console-screenshots: the console's pages in a headless Chromium
## (TestConsoleInBrowser), with a full-page screenshot of each written to
## docs/console/ (the README links them).
console-screenshots:
	SMSLEDGER_REQUIRE_BROWSER=1 SMSLEDGER_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console \
		$(GO) test -count=1 -run '^TestConsoleInBrowser$$' ./cmd/smsledger/

clean:
	rm -rf bin
