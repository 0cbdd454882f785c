# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Every package, runtime and dev, pinned with hashes (pip-tools); `make lock` renews it.
LOCK := requirements.lock
# The browser test drives Debian's chromium through Playwright (never `playwright install`:
# it downloads a browser build of its own).
CHROMIUM := /usr/bin/chromium
# Guides' names under their QR codes (qrcodes/) need a CJK font; Pillow's default has no Chinese.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Lower-case names with one kind of separator, "name==version" a line: pip freeze and the lock
# spell names differently (SQLAlchemy, sqlalchemy).
NORMALIZE := awk -F'==' '/^[A-Za-z0-9]/ && NF == 2 { name = tolower($$1); gsub(/[-_.]+/, "-", name); \
  split($$2, version, /[ ;]/); print name "==" version[1] }' | sort
# How many test processes: one per core. Each has its own PostgreSQL database and Redis db.
TEST_WORKERS ?= auto
# The console's English (scrm/web/i18n.py): written in the .po, compiled to the .mo the app reads.
CATALOGUES := scrm/translations
CATALOGUE := $(CATALOGUES)/en/LC_MESSAGES/messages

.PHONY: demo test lock bench clean translations

# A new .venv whenever the lock or the project changes: exactly the locked packages and
# nothing left over, then the project itself (editable, no dependencies of its own choosing).
$(INSTALLED): $(LOCK) pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(BIN)/python -m pip freeze --all --exclude-editable | $(NORMALIZE) > $(VENV)/installed.txt
	cat $(LOCK) | $(NORMALIZE) | diff -u - $(VENV)/installed.txt || \
	  { echo "$(VENV) does not hold exactly what $(LOCK) pins" >&2; exit 1; }
	touch $@

## Migrate and run the app on the embedded defaults (SQLite under var/, memory:// Redis,
## the WeChat sandbox), printing the URLs to open.
demo: $(INSTALLED) $(CJK_FONT) $(CATALOGUE).mo
	$(BIN)/scrm demo

## Run the whole suite (the real PostgreSQL/Redis parts too, when they answer; CI=true
## makes them required), in parallel, listing the 25 slowest tests.
test: $(INSTALLED) $(CHROMIUM) $(CJK_FONT) $(CATALOGUE).mo
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --durations=25 $(PYTEST_ARGS)

## Upgrade every pinned package to the newest release that pyproject.toml's ranges allow,
## then rebuild .venv from it. Run `make test` after, and commit the lock with the results.
lock:
	# pip-tools from the current lock (not $(INSTALLED): that fails until the lock has a new dependency)
	test -x $(BIN)/pip-compile || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK); }
	$(BIN)/pip-compile --quiet --upgrade --extra dev --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url --no-emit-trusted-host -o $(LOCK) pyproject.toml
	$(MAKE) $(INSTALLED)

## Gather every word marked for translation (_("…") in templates and pages) into the English
## catalogue, new ones with an empty translation to write, then compile it.
translations: $(INSTALLED)
	$(BIN)/pybabel --quiet extract -F babel.cfg --no-location --sort-output --omit-header -k _l \
	  -o $(CATALOGUES)/messages.pot scrm guides tagging handlers qrcodes
	$(BIN)/pybabel --quiet update --no-fuzzy-matching --ignore-obsolete --no-wrap \
	  -i $(CATALOGUES)/messages.pot -d $(CATALOGUES)
	rm $(CATALOGUES)/messages.pot
	sed -i '/^"POT-Creation-Date: /d' $(CATALOGUE).po  # no date: branches' catalogues merge cleanly
	$(BIN)/pybabel --quiet compile -d $(CATALOGUES)  # not $(MAKE): a sub-make would rebuild a venv named from outside

$(CATALOGUE).mo: $(CATALOGUE).po $(INSTALLED)
	$(BIN)/pybabel --quiet compile -d $(CATALOGUES)

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
