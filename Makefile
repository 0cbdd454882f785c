# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The browser test drives Debian's chromium through Playwright (never `playwright install`:
# it downloads a browser build of its own).
CHROMIUM := /usr/bin/chromium
# Guides' names under their QR codes (qrcodes/) need a CJK font; Pillow's default has no Chinese.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Migrate and run the app on the embedded defaults (SQLite under var/, memory:// Redis,
## the WeChat sandbox), printing the URLs to open.
demo: $(INSTALLED) $(CJK_FONT)
	$(BIN)/scrm demo

## Run the whole suite (the real PostgreSQL/Redis parts too, when they answer; CI=true
## makes them required).
test: $(INSTALLED) $(CHROMIUM) $(CJK_FONT)
	$(BIN)/pytest $(PYTEST_ARGS)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(CJK_FONT):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei

bench: $(INSTALLED)
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) var .pytest_cache
