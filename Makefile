# dagsmith: `make run` launches the editor, `make test` runs every check. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
AF2 := .venv-airflow2
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
AF2_STAMP := $(AF2)/.installed
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv

.PHONY: run desktop test lint typecheck imports links pytest bench lock package package-test clean

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

# The desktop app: a PyInstaller onedir bundle (started in place, nothing unpacked per launch) in
# dist/dagsmith/, wrapped in an installable dist/dagsmith_VERSION_ARCH.deb (packaging/linux/). PyInstaller
# does not run setuptools' editable finder, so it reads the package through the mypy dagsmith/ link tree
# and the step runtime (dagsmith_steps, whose sources the local target embeds) from steps/.
# Local runs' packages stay out (they follow the lazy imports of the run code): the designer needs none.
# So does the team server's OIDC sign-in (authlib, joserfc: the `team` extra); `dagsmith serve` names the extra.
PACK_DATA := editor/canvas/dist:dagsmith/editor/canvas/dist editor/canvas/canvas.js:dagsmith/editor/canvas \
	codegen/templates:dagsmith/codegen/templates codegen/steps:dagsmith/codegen/steps steps/dagsmith_steps:dagsmith_steps \
	codegen/CONTRACT.md:dagsmith/codegen steps/dagsmith_steps:dagsmith_steps nodes/examples:dagsmith/nodes/examples \
	editor/store/migrations:dagsmith/editor/store/migrations assets:dagsmith/assets
PACK_EXCLUDE := airflow mlflow bentoml feast papermill kubernetes kubernetes_validate \
	pandas pyarrow numpy scipy sklearn matplotlib dask torch tensorflow IPython ipykernel \
	tkinter _tkinter gi PySide6 PyQt5 PIL \
	authlib joserfc hypothesis pytest _pytest mypy setuptools pkg_resources _distutils_hack distutils \
	PyQt6.QtQuick PyQt6.QtQml PyQt6.QtQuick3D PyQt6.QtMultimedia PyQt6.QtBluetooth PyQt6.QtDesigner \
	PyQt6.QtPdf PyQt6.QtSql PyQt6.QtTest PyQt6.Qt3DCore PyQt6.QtCharts PyQt6.QtDataVisualization
# nodes/checks.py loads kubernetes' quantity parser from its source file, not through the kubernetes package
# (whose generated client takes seconds to import): the bundle leaves the client out and ships that one file
# in a stand-in package (packaging/bundle/kubernetes/).
SITE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DEB := dist/dagsmith_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
package: $(STAMP) links
	rm -rf dist/dagsmith build/dagsmith $(DEB) dist/package-build.json
	mkdir -p build dist && date +%s > build/package-started
	# "Set up local runs" installs requirements.lock and this wheel of dagsmith into <DAGSMITH_HOME>/runenv.
	rm -rf build/wheels && $(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w build/wheels .
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONPATH=.cache/mypy-src:steps $(BIN)/python -m PyInstaller --onedir --noconfirm \
		--log-level WARN --name dagsmith --specpath build --distpath dist --workpath build \
		--add-data $(SITE)/nicegui:nicegui --add-data $(CURDIR)/packaging/bundle/kubernetes:kubernetes \
		--add-data $(SITE)/kubernetes/utils/quantity.py:kubernetes/utils \
		--add-data $(CURDIR)/$(VENV)/share/jupyter/nbconvert/templates:share/jupyter/nbconvert/templates \
		--add-data $(CURDIR)/requirements.lock:. --add-data $(CURDIR)/build/wheels:wheels \
		--collect-data cron_descriptor --collect-data nbformat \
		$(foreach d,$(PACK_DATA),--add-data $(CURDIR)/$(d)) $(foreach m,$(PACK_EXCLUDE),--exclude-module $(m)) \
		editor/desktop_main.py
	test -x dist/dagsmith/dagsmith
	date +%s > build/pyinstaller-done
	packaging/linux/build-deb.sh dist/dagsmith $(VERSION) dist
	started=$$(cat build/package-started); printf '{"seconds": %s, "pyinstaller_seconds": %s}\n' \
		$$(( $$(date +%s) - started )) $$(( $$(cat build/pyinstaller-done) - started )) > dist/package-build.json
	du -h $(DEB); cat dist/package-build.json

# Build the .deb, then install it into a scratch prefix and open a pipeline in its window under Xvfb.
package-test: package
	DAGSMITH_PACKAGE_TEST=1 $(BIN)/pytest -q -p no:cacheprovider tests/editor/test_desktop_package.py

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile -q --python-version 3.11 --all-extras pyproject.toml -o requirements.lock
	printf 'apache-airflow>=2.10,<3\napache-airflow-providers-cncf-kubernetes>=10.25\n' | \
		$(BIN)/uv pip compile -q --python-version 3.11 - -o requirements-airflow2.lock

clean:
	rm -rf $(VENV) $(AF2) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
