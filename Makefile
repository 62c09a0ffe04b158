# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run start stop server client web check test bench chaos screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

# Where `make run` keeps its background server: listening address, data
# directory (its log and pidfile live there).
PORT ?= 7878
DATA ?= $${CHINWAG_DATA_DIR:-$${XDG_DATA_HOME:-$$HOME/.local/share}/chinwag}

# Start a local chinwag-server in the background unless one already listens on
# 127.0.0.1:$(PORT) (its log and pidfile go to the data directory), then open the TUI.
run: start
	$(BIN)/chinwag --server 127.0.0.1:$(PORT)

start: $(STAMP)
	@listening() { $(BIN)/python -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $(PORT))))"; }; \
	data="$(DATA)"; \
	if listening; then echo "chinwag-server is already listening on 127.0.0.1:$(PORT)"; else \
		mkdir -p "$$data"; \
		echo "starting chinwag-server in the background (log: $$data/server.log; make stop stops it)"; \
		nohup $(BIN)/chinwag-server --port $(PORT) --data-dir "$$data" >> "$$data/server.log" 2>&1 & \
		echo $$! > "$$data/server.pid"; \
		for i in $$(seq 1 50); do listening && break; sleep 0.2; done; \
		listening || { echo "chinwag-server did not start; the end of $$data/server.log:"; tail -n 5 "$$data/server.log"; exit 1; }; \
	fi

# Stop the background server `make run` started (by its pidfile; it stops its
# own Redis on the way out).
stop:
	@data="$(DATA)"; pidfile="$$data/server.pid"; \
	if [ ! -f "$$pidfile" ]; then echo "no background chinwag-server to stop (no $$pidfile)"; exit 0; fi; \
	pid=$$(cat "$$pidfile"); \
	if ! ps -p "$$pid" -o command= 2>/dev/null | grep -q chinwag-server; then \
		echo "chinwag-server (pid $$pid) is not running"; rm -f "$$pidfile"; exit 0; fi; \
	kill "$$pid"; \
	for i in $$(seq 1 100); do ps -p "$$pid" > /dev/null 2>&1 || break; sleep 0.1; done; \
	if ps -p "$$pid" > /dev/null 2>&1; then echo "chinwag-server (pid $$pid) did not stop in 10 s; see $$data/server.log"; exit 1; fi; \
	rm -f "$$pidfile"; echo "stopped chinwag-server (pid $$pid)"

server: $(STAMP)
	$(BIN)/chinwag-server

# The checkers, fastest first: lint, formatting, types, import contracts.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# The checkers, then the suite: the one command, and what CI runs. The suite
# runs on two worker processes (pytest-xdist), each with its own Redis.
test: $(STAMP)
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest -q -n 2

# Options pass through: make bench BENCH_ARGS="--peer ngircd --pin --full"
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Another client, for a second person on this machine.
client: $(STAMP)
	$(BIN)/chinwag --server 127.0.0.1:$(PORT)

# The client in a browser, for the local server (see README, "In a browser").
web: start
	$(BIN)/chinwag web --server 127.0.0.1:$(PORT)

# The TUI's screens, and web.png from a headless Chromium (Debian's chromium,
# installed on first use when run as root with apt-get).
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py screenshots

chaos: $(STAMP)
	$(BIN)/python -m bench.chaos --clients 20 --duration 60 --kills 5 --stalls 3 --stall-seconds 3

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
