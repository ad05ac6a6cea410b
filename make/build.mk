# Build, size budget, lint and scans of the Lambda bundle (issue 3). The top Makefile includes this
# file; it expects VENV (.venv) and PY ($(VENV)/bin/python) and defines the rest itself.
#
#   make build        sam build (no docker, no local 3.12 needed), then the size budget
#   make size         the size budget of the last build (.aws-sam/build)
#   make lint         cfn-lint + serverless rules, sam validate --lint, the ASL check, and checkov
#                     on the SAM-transformed template in both InferenceAuthMode values
#   make scan-tools   the scanners' own venv (.tools/, requirements/scan.lock)
#   make layer-locks  regenerate layers/*/requirements.lock after editing a layers/*/requirements.txt
#
# Variables: LAMBDA_PYC=auto|none|require (.pyc for the serving and shared layers from a local
# CPython 3.12: see scripts/compile_pyc.py), PIP ("python3 -m pip" with pip; found if unset),
# SAM_BUILD_FLAGS (extra `sam build` flags), SIZE_FLAGS (e.g. --limit-for InferenceFunction=120).

VENV ?= .venv
PY ?= $(VENV)/bin/python
SAM ?= $(VENV)/bin/sam
CFN_LINT ?= $(VENV)/bin/cfn-lint
UV ?= uv
TOOLS ?= .tools
SCAN_PYTHON ?= 3.11
CHECKOV ?= $(TOOLS)/bin/checkov
SAM_BUILD_DIR ?= .aws-sam/build
SAM_BUILD_FLAGS ?=
SIZE_FLAGS ?=
LAMBDA_PYC ?= auto
SCAN_DIR ?= build

export SAM_CLI_TELEMETRY := 0
export LAMBDA_PYC
ifdef PIP
export PIP
endif

.PHONY: build size lint scan-tools layer-locks

SIZE_REPORT = $(PY) scripts/size_report.py $(SAM_BUILD_DIR) --json $(SCAN_DIR)/lambda-sizes.json $(SIZE_FLAGS)

build:
	@start=$$(date +%s); \
	$(SAM) build $(SAM_BUILD_FLAGS) || exit 1; \
	echo "sam build: $$(( $$(date +%s) - start )) s"
	@mkdir -p $(SCAN_DIR)
	$(SIZE_REPORT)

size:
	@mkdir -p $(SCAN_DIR)
	$(SIZE_REPORT)

lint: $(CHECKOV)
	$(CFN_LINT) --append-rules cfn_lint_serverless.rules -- template.yaml
	$(SAM) validate --lint --template template.yaml
	$(PY) scripts/check_asl.py template.yaml
	$(PY) scripts/sam_transform.py template.yaml -o $(SCAN_DIR)/template.cfn.json
	$(PY) scripts/sam_transform.py template.yaml -p InferenceAuthMode=IAM -o $(SCAN_DIR)/template.iam.cfn.json
	$(CHECKOV) --framework cloudformation --quiet --compact --skip-download \
		-f $(SCAN_DIR)/template.cfn.json -f $(SCAN_DIR)/template.iam.cfn.json

scan-tools: $(CHECKOV)

$(CHECKOV): requirements/scan.lock
	$(UV) venv --quiet --allow-existing --python $(SCAN_PYTHON) $(TOOLS)
	$(UV) pip sync --quiet --python $(TOOLS)/bin/python --require-hashes requirements/scan.lock
	@touch $@

LAYER_LOCK_FLAGS = --quiet --no-header --generate-hashes --only-binary :all: \
	--python-version 3.12 --python-platform x86_64-manylinux_2_34 -c requirements/dev.lock
layer-locks:
	for layer in shared training serving ingest batch; do \
		$(UV) pip compile $(LAYER_LOCK_FLAGS) layers/$$layer/requirements.txt -o layers/$$layer/requirements.lock || exit 1; \
	done
