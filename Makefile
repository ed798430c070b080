# dagsmith: `make run` launches the editor, `make test` runs every check. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
AF2 := .venv-airflow2
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
AF2_STAMP := $(AF2)/.installed
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv

.PHONY: run desktop test lint typecheck imports links pytest bench lock package clean

# The dev environment: every extra, pinned by requirements.lock (uv pip compile --all-extras).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# Airflow 2, in its own environment, only to load the `airflow2` target's output in tests.
$(AF2_STAMP): requirements-airflow2.lock $(STAMP)
	test -x $(AF2)/bin/python || $(BIN)/uv venv -q --python $(BIN)/python $(AF2)
	$(BIN)/uv pip install -q --python $(AF2)/bin/python -r requirements-airflow2.lock
	touch $@

run: $(STAMP)
	$(BIN)/dagsmith edit

desktop: $(STAMP)
	$(BIN)/dagsmith desktop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy does not run setuptools' editable-install finder: give it a dagsmith/ tree of links instead.
links:
	mkdir -p .cache/mypy-src/dagsmith
	for p in nodes codegen editor; do ln -sfn ../../../$$p .cache/mypy-src/dagsmith/$$p; done

typecheck: $(STAMP) links
	$(BIN)/mypy

# The one-way layers (editor -> codegen -> nodes) as import-linter contracts from pyproject.toml.
imports: $(STAMP) links
	PYTHONPATH=.cache/mypy-src $(BIN)/lint-imports --no-cache

pytest: $(STAMP) $(AF2_STAMP)
	$(BIN)/pytest

test: lint typecheck imports pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

# A one-file desktop binary (PyInstaller through nicegui-pack) in dist/dagsmith. PyInstaller does not
# run setuptools' editable finder either, so it reads the package through the same dagsmith/ link tree.
PACK_DATA := editor/canvas/dist:dagsmith/editor/canvas/dist editor/canvas/canvas.js:dagsmith/editor/canvas \
	codegen/templates:dagsmith/codegen/templates codegen/steps:dagsmith/codegen/steps \
	nodes/examples:dagsmith/nodes/examples editor/store/migrations:dagsmith/editor/store/migrations \
	assets:dagsmith/assets
package: $(STAMP) links
	rm -f dist/dagsmith
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONPATH=.cache/mypy-src $(BIN)/nicegui-pack --onefile --noconfirm \
		--name dagsmith $(foreach d,$(PACK_DATA),--add-data $(d)) editor/desktop_main.py
	test -x dist/dagsmith  # nicegui-pack exits 0 even when PyInstaller fails

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile -q --python-version 3.11 --all-extras pyproject.toml -o requirements.lock
	printf 'apache-airflow>=2.10,<3\napache-airflow-providers-cncf-kubernetes>=10.25\n' | \
		$(BIN)/uv pip compile -q --python-version 3.11 - -o requirements-airflow2.lock

clean:
	rm -rf $(VENV) $(AF2) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
