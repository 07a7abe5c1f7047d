# cbac: `make test` is the README's test command and what CI runs.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 10s

.PHONY: all build test unit race load fuzz lint bench lab clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# Everything CI checks: formatting, vet, all tests under the race detector
# (integration tests need root: run as root, as CI does), then a bounded
# fuzz run of every fuzz target (stream parsers, header views, the pipeline).
test: lint race load fuzz

unit:
	$(GO) test -count=1 $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# Load tests that need the machine to themselves (root: network namespaces
# and AF_XDP): the real-MTA test at full size (under -race, above, cbacd is
# built with the race detector and the test sends 20,000 mails; here
# 100,000 go through a normal build), and the SYN flood through tcp
# intercept (left out under -race).
load:
	$(GO) test -count=1 -timeout 15m -run '^TestSMTPSourceToSink$$' -v ./integration/postfix/
	$(GO) test -count=1 -timeout 15m -run '^TestInterceptSYNFlood$$' -v ./integration/

# Every fuzz target of every package, each for $(FUZZTIME) (scripts/fuzz.sh).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lab: build
	./bin/cbacd lab

clean:
	rm -rf bin
