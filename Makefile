# cbac: `make test` is the README's test command and what CI runs.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 10s

.PHONY: all build test unit race fuzz lint bench lab clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# Everything CI checks: formatting, vet, all tests under the race detector
# (integration tests need root: run as root, as CI does), then a bounded
# fuzz run of every stream parser and header view.
test: lint race fuzz

unit:
	$(GO) test -count=1 $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzSession$$' -fuzztime=$(FUZZTIME) ./smtpfsm
	$(GO) test -run='^$$' -fuzz='^FuzzParseEntry$$' -fuzztime=$(FUZZTIME) ./acl
	$(GO) test -run='^$$' -fuzz='^FuzzViews$$' -fuzztime=$(FUZZTIME) ./packet
	$(GO) test -run='^$$' -fuzz='^FuzzGuard$$' -fuzztime=$(FUZZTIME) ./tcpstream
	$(GO) test -run='^$$' -fuzz='^FuzzLineDot$$' -fuzztime=$(FUZZTIME) ./internal/scan
	$(GO) test -run='^$$' -fuzz='^FuzzImport$$' -fuzztime=$(FUZZTIME) ./iosconfig

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lab: build
	./bin/cbacd lab

clean:
	rm -rf bin
