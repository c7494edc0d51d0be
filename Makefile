# ganforge: `make run` (the main job: the studio) and `make test` set everything up themselves on a
# fresh Debian machine with Python 3.11: the Fashion-MNIST package, .venv, CPU torch, ganforge with
# its studio; `make test` also installs Debian's chromium and redis-server for the studio's tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
STAMP := $(VENV)/.ganforge-installed
RUN_DIR ?= runs/make-run
STUDIO_DIR ?= studio-data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup data test-packages photo-data style-data creation-data photo-models style-models creation-models run train-demo test test-fast bench clean

setup: data $(STAMP)

# The Debian package holds the IDX files; install it only when they are missing.
data:
	@if [ -z "$$GANFORGE_DATA_DIR" ] && [ ! -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then \
		echo "installing Fashion-MNIST (dataset-fashion-mnist)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

# The photo tools' training photos (endless-sky-data, gcompris-qt-data, opencv-doc) and evaluation
# photos (mate-backgrounds, plasma-workspace-wallpapers): installed only when missing. Tests do not
# need them; training the photo-* presets and bench/enhance.py do.
PHOTO_PACKAGES := endless-sky-data gcompris-qt-data opencv-doc mate-backgrounds plasma-workspace-wallpapers
photo-data:
	@missing=""; for p in $(PHOTO_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing photo data:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The style models' art (data/styles.py): Wesnoth's story paintings (the data package and the campaigns
# with story art; the campaigns pull in wesnoth-1.16-core) and openclipart-png (154 MB installed); the
# woodblock prints come with gcompris-qt-data, a photo package. Installed only when missing; the photo
# side is `make photo-data`. Tests do not need them.
STYLE_PACKAGES := wesnoth-1.16-data wesnoth-1.16-did wesnoth-1.16-httt wesnoth-1.16-l wesnoth-1.16-trow \
	wesnoth-1.16-tsg wesnoth-1.16-ttb openclipart-png
style-data: photo-data
	@missing=""; for p in $(STYLE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing style data:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The creation data sets (data/avatars.py, wesnoth.py, portraits.py, turntable.py, landscapes.py):
# rsvg-convert and four games' data packages, installed only when missing, and the `creation`
# extra (python-avatars). Tests do not need them; the creation presets and bench/creation.py do.
CREATION_PACKAGES := librsvg2-bin wesnoth-1.16-data naev-data freedroidrpg-data endless-sky-data
creation-data: setup
	@missing=""; for p in $(CREATION_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing creation data:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(PY) -m pip install -q -e '.[creation]'

# Train the six bundled photo models from configs/photo-*.yaml into src/ganforge/pretrained/.
photo-models: setup photo-data
	bench/train_photo_models.sh

# Train the three bundled style models from configs/style-*.yaml into src/ganforge/pretrained/.
style-models: setup style-data
	bench/train_style_models.sh

# Train the bundled creation models (character-avatar) from configs/ into src/ganforge/pretrained/,
# with their model cards' training time and machine (docs/creation.md).
creation-models: creation-data
	bench/train_creation_models.sh

# torch==2.13.0 is the CPU wheel on this machine's disk; pyproject does not pin torch.
# Re-run pip only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,tensorboard,studio,onnx,tabular,creation]'
	@touch $(STAMP)

# The main job: the studio with the bundled models; it prints the address and a one-time sign-in link.
run: setup
	$(VENV)/bin/ganforge serve --host $(HOST) --port $(PORT) --data-dir $(STUDIO_DIR)

# The short training run `make run` did before the studio: fashion-cgan, 100 kimg (under 10 minutes on
# 2 cores), and its per-class grid.
train-demo: setup
	rm -rf $(RUN_DIR)
	$(VENV)/bin/ganforge train configs/fashion-cgan.yaml train.kimg=100 --run-dir $(RUN_DIR)
	$(VENV)/bin/ganforge generate $(RUN_DIR) --class all -n 100 --out $(RUN_DIR)/per-class-grid.png
	@echo "run folder: $(RUN_DIR)"
	@echo "per-class grid: $(RUN_DIR)/per-class-grid.png"

# The studio's tests drive Debian's chromium (Playwright) and start redis-server (Celery).
test-packages:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "installing test packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# pytest-xdist runs the tests on every core (-n auto), one torch thread per worker on 2 cores.
test: setup test-packages
	$(PY) -m pytest -q -n auto

# The fast lane: everything but the end-to-end tests marked slow (about a minute on 2 cores).
test-fast: setup test-packages
	$(PY) -m pytest -q -n auto -m "not slow"

bench: setup
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
