# syncd developer targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/syncd
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DSSERVER  := tools/dsserver
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
IMAGE     ?= syncd:$(VERSION)
SERVER_PORT ?= 4437
SERVER_DATA ?= .dsserver-data

.PHONY: help build deps test test-short test-rules lint bench bench-micro fuzz demo server compose-up image clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the static syncd binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/syncd

deps: $(DSSERVER)/node_modules/.package-lock.json ## install the pinned reference server (npm ci)

$(DSSERVER)/node_modules/.package-lock.json: $(DSSERVER)/package-lock.json
	npm ci --prefix $(DSSERVER) --no-audit --no-fund --loglevel=error

test: deps ## run every test with the race detector (Postgres: SYNCD_TEST_DATABASE_URL; MySQL/MariaDB: SYNCD_TEST_MYSQL_URL; promtool: apt-get install prometheus)
	$(GO) test -race -count=1 -parallel 4 -timeout 20m ./...

test-rules: ## promtool check and unit-test the alerting rules in deploy/monitoring (make test runs them too)
	promtool check rules deploy/monitoring/syncd-alerts.yaml
	promtool test rules deploy/monitoring/tests/*.yaml

test-short: deps ## quick tests only (skips the long crash/restart tests)
	$(GO) test -short -count=1 ./...

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: deps ## end-to-end benchmark: W1/W2 catch-up vs pure read and COPY, live latency, RSS (BENCHFLAGS=-runs 3)
	$(GO) run ./cmd/syncd-bench $(BENCHFLAGS)

bench-micro: deps ## Go micro-benchmarks of the decoder, splitter and sinks
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz: ## fuzz the JSON scanner, the State Protocol decoder, its timestamp check and the SSE parser for 30 s each
	$(GO) test -run '^$$' -fuzz FuzzScan -fuzztime 30s ./internal/jsonscan/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/state/
	$(GO) test -run '^$$' -fuzz FuzzRFC3339 -fuzztime 30s ./internal/state/
	$(GO) test -run '^$$' -fuzz FuzzSSE -fuzztime 30s ./internal/consumer/

demo: deps build ## start the reference server, append a chat stream, sync it into SQLite and show the rows
	$(GO) run ./cmd/syncd-demo -syncd $(BIN)

server: deps ## run the reference server on 127.0.0.1:4437 (SERVER_PORT), streams kept in .dsserver-data/ (SERVER_DATA); Ctrl-C to stop
	node $(DSSERVER)/server.mjs --port $(SERVER_PORT) --data-dir $(SERVER_DATA) --stay

image: ## build the container image $(IMAGE) (needs Docker with BuildKit)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

compose-up: ## start the local stack: reference server, Postgres, syncd, demo producer
	docker compose up --build -d
	@echo "rows: docker compose exec postgres psql -U postgres -c 'select key, value, txid from syncd.message order by synced_at desc limit 10'"
	@echo "stop: docker compose down -v"

# The SQLite files syncd leaves beside its database (PATH-wal, PATH-shm, the
# run lock PATH.lock, the migration lock PATH.migrate.lock) for the default
# database (syncd.db), the README's examples (chat.db, notes.db) and the demo (demo.db).
SQLITE_FILES := $(foreach db,syncd.db chat.db notes.db demo.db,$(db) $(db)-wal $(db)-shm $(db).lock $(db).migrate.lock)

clean: ## remove build outputs, the SQLite databases of syncd and the demo with their lock files, and the server's data
	rm -rf bin $(SQLITE_FILES) $(SERVER_DATA)
