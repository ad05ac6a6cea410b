# Rules shared by the layer Makefiles that `sam build` runs (Metadata: BuildMethod: makefile).
#
# sam copies a layer's folder to a scratch dir and runs `make --makefile <original Makefile>
# build-<LogicalId>` there with ARTIFACTS_DIR set, so this file and scripts/ are found relative to
# the original Makefile, never to the working directory.
#
# Knobs (environment or make variables; make/build.mk passes them on):
#   LAMBDA_ARCH            x86_64 (default) | arm64 -- must match the template's Architecture parameter
#   LAMBDA_PYTHON_VERSION  3.12 (the template's Runtime)
#   PIP                    a pip that is not the dev venv's (uv venvs have none); found if unset
#   HOST_PYTHON            any local python3 (3.11 is fine) to run scripts/*.py
#   LAMBDA_PYC             auto (default: .pyc from a local CPython 3.12 when there is one) | none | require
#   LAMBDA_PYC_PYTHON      that interpreter, when it is not found by itself (see scripts/compile_pyc.py)

EVERGREEN_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
LAMBDA_ARCH ?= x86_64
LAMBDA_PYTHON_VERSION ?= 3.12
HOST_PYTHON ?= python3
LAMBDA_PYC ?= auto

ifeq ($(LAMBDA_ARCH),x86_64)
WHEEL_ARCH := x86_64
else ifeq ($(LAMBDA_ARCH),arm64)
WHEEL_ARCH := aarch64
else
$(error LAMBDA_ARCH must be x86_64 or arm64, not '$(LAMBDA_ARCH)')
endif

# The first python3 on PATH that has pip (PATH may start with a uv venv, which has none), else pip
# run by uvx from PyPI.
PIP_FALLBACK_VERSION ?= 25.3
ifndef PIP
PIP := $(or $(shell for p in python3 /usr/local/bin/python3 /usr/bin/python3; do \
	"$$p" -m pip --version >/dev/null 2>&1 && { echo "$$p -m pip"; break; }; done),\
	$(shell command -v uvx >/dev/null 2>&1 && echo "uvx --quiet --from pip==$(PIP_FALLBACK_VERSION) pip"),\
	$(error no python3 with pip and no uvx found: set PIP="/path/to/python3 -m pip"))
endif

# Wheels only, for the Lambda runtime rather than this machine: Amazon Linux 2023 (glibc 2.34),
# CPython $(LAMBDA_PYTHON_VERSION). --no-deps: requirements.lock is the complete, hashed set.
# --no-compile: a local 3.11 would write cpython-311 .pyc files the 3.12 runtime ignores.
PIP_LAMBDA_FLAGS = --disable-pip-version-check --no-input --quiet --no-warn-script-location \
	--platform manylinux2014_$(WHEEL_ARCH) --platform manylinux_2_28_$(WHEEL_ARCH) \
	--platform manylinux_2_34_$(WHEEL_ARCH) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
	--only-binary=:all: --no-compile --no-deps --require-hashes

# $(call install_layer_requirements) from a layer folder holding requirements.txt + requirements.lock
define install_layer_requirements
	$(HOST_PYTHON) $(EVERGREEN_ROOT)/scripts/layer_lock.py check requirements.txt requirements.lock
	rm -rf "$(ARTIFACTS_DIR)/python"
	mkdir -p "$(ARTIFACTS_DIR)/python"
	$(PIP) install $(PIP_LAMBDA_FLAGS) -r requirements.lock -t "$(ARTIFACTS_DIR)/python"
	$(HOST_PYTHON) $(EVERGREEN_ROOT)/scripts/trim_layer.py "$(ARTIFACTS_DIR)/python"
endef

# cpython-3.12 .pyc for every module of the layer, when a local 3.12 exists (scripts/compile_pyc.py)
define compile_pyc
	$(HOST_PYTHON) $(EVERGREEN_ROOT)/scripts/compile_pyc.py "$(ARTIFACTS_DIR)/python" --mode $(LAMBDA_PYC) \
		--python-version $(LAMBDA_PYTHON_VERSION) --arch $(LAMBDA_ARCH)
endef
