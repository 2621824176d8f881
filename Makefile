# The two commands a newcomer runs: `make dev` (the local stack) and `make test` (every check).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The Lambda runtime's Python (python3.13): the venv, the bundled wheels and their bytecode all use
# it, so what the tests import is what Lambda loads. A `python3.13` that runs, else pyenv's 3.13.x
# (pyenv's bare shim fails unless 3.13 is the selected version); override with PYTHON=<path>.
PYTHON_VERSION := 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python$(PYTHON_VERSION) \
    $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION) 2>/dev/null | sort -V -r); do \
    "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
OSLS := $(CURDIR)/node_modules/.bin/osls
# The services are the folders holding a serverless.yml (the order does not matter here).
SERVICES := $(patsubst services/%/serverless.yml,%,$(wildcard services/*/serverless.yml))
STAGE ?= dev

.PHONY: help install dev test changed deploy rehearse lint pytest package schemas openapi fuzz clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The stamps name the Python version, so a venv of another version is built again.
VENV_STAMP := $(VENV)/.installed-py$(PYTHON_VERSION)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-py$(PYTHON_VERSION)
INSTALLED := $(VENV_STAMP) $(CHECKOV_STAMP) node_modules/.installed

# Fails early, with what to do, when no Python $(PYTHON_VERSION) was found.
.PHONY: python
python:
	@test -n "$(PYTHON)" || { echo "make: no Python $(PYTHON_VERSION) found: install CPython $(PYTHON_VERSION) (pyenv install $(PYTHON_VERSION), your OS packages or python.org) or pass PYTHON=<path>" >&2; exit 1; }

# A venv of the right Python is kept (pip brings it up to date), one of another Python made anew.
define FRESH_VENV
test -x $(1)/bin/python$(PYTHON_VERSION) || { rm -rf $(1) && $(PYTHON) -m venv $(1); }
endef

# The three installs share nothing, so they run side by side (about 25 s instead of 65 s on a
# fresh clone); up to date, the sub-make returns at once.
install: ## Create .venv and install the pinned Python and npm dependencies
	@$(MAKE) --no-print-directory --silent -j3 $(INSTALLED)

$(VENV_STAMP): requirements/lambda.txt requirements/dev.txt | python
	@echo "== install $(VENV) (requirements/dev.txt, $(PYTHON))"
	$(call FRESH_VENV,$(VENV))
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(CHECKOV_STAMP): requirements/checkov.txt | python
	@echo "== install $(CHECKOV_VENV) (requirements/checkov.txt, $(PYTHON))"
	$(call FRESH_VENV,$(CHECKOV_VENV))
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "== install node_modules (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The data is kept in .local-stack/ across restarts; FRESH=1 starts empty.
dev: install package ## Run the whole system locally (no AWS account, no Docker); API_PORT, AWS_PORT, FRESH=1
	LOCAL_STACK_FRESH=$(FRESH) $(BIN)/python -m devtools.local.stack

.PHONY: token
token: ## Print a JWT the local stack accepts: make token USER=<id> [GROUPS=admin]
	$(if $(filter command line,$(origin USER)),,$(error usage: make token USER=<id> [GROUPS=admin]))
	@$(MAKE) --no-print-directory --silent install >&2
	@for s in $(SERVICES); do \
	  test -f services/$$s/.serverless/cloudformation-template-update-stack.json \
	    || { $(MAKE) --no-print-directory --silent package >&2; break; }; \
	done
	@$(BIN)/python -m devtools.emulator.jwt_local "$(USER)" --groups "$(GROUPS)"

.PHONY: redrive
# Packages the stage first: a stream's on-failure queue is replayed on the bus its templates name.
redrive: $(VENV_STAMP) package ## Empty a DLQ or a stream's on-failure queue: make redrive QUEUE=<name> [STAGE=dev]
	$(if $(QUEUE),,$(error usage: make redrive QUEUE=<dead-letter or on-failure queue name, or a part of it> [STAGE=<stage>]))
	@$(BIN)/python -m devtools.ops.redrive "$(QUEUE)" --stage "$(STAGE)"

package: $(foreach s,$(SERVICES),services/$(s)/.serverless/.packaged-$(STAGE)) ## Package every service offline into services/<x>/.serverless/

# A service is packaged again only when its inputs changed, so `make dev` starts in seconds.
define PACKAGE_SERVICE
services/$(1)/.serverless/.packaged-$(STAGE): services/$(1)/serverless.yml $$(wildcard services/$(1)/resources/* serverless/*) \
    $$(shell find services/$(1)/src shared -name '*.py' 2>/dev/null) \
    requirements/lambda.txt tools/bundle.py tools/osls-python-bundle/index.js tools/osls-stage-names/index.js | install
	@echo "== package $(1) ($(STAGE))"
	cd services/$(1) && $(OSLS) package --stage $(STAGE)
	touch $$@
endef
$(foreach s,$(SERVICES),$(eval $(call PACKAGE_SERVICE,$(s))))

# Standard output holds the services alone (the workflows read it): the venv's install talks on stderr.
changed: ## The services a change affects, in deploy order: make changed BASE=<git ref>
	$(if $(BASE),,$(error usage: make changed BASE=<git ref, e.g. origin/main>))
	@$(MAKE) --no-print-directory --silent $(VENV_STAMP) >&2
	@$(BIN)/python .ci/changed.py "$(BASE)"

# copier renders devtools/scaffold/template/ into services/<name>/; the sub-make, which sees the new
# folder, packages it and writes its OpenAPI document.
.PHONY: new-service
new-service: $(VENV_STAMP) ## A new service on the skeleton: make new-service NAME=<name> KIND=api|consumer
	$(if $(and $(NAME),$(filter $(KIND),api consumer)),,$(error usage: make new-service NAME=<name> KIND=api|consumer))
	$(BIN)/python -m devtools.scaffold "$(NAME)" "$(KIND)"
	@$(MAKE) --no-print-directory openapi

deploy: install ## Deploy one service with the credentials of the environment: make deploy SERVICE=<name> STAGE=<stage>
	$(if $(filter $(SERVICE),$(SERVICES)),,$(error usage: make deploy SERVICE=<$(SERVICES)> STAGE=<stage>))
	cd services/$(SERVICE) && $(OSLS) deploy --stage $(STAGE)

lint: install ## ruff on all Python code; mypy, strict, on shared/ and every domain/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schemas: install ## Regenerate schemas/ (the JSON Schema of every event) from the models
	$(BIN)/python -m devtools.contracts.schemas write

openapi: install package ## Regenerate openapi/ (each service's OpenAPI document) from the code
	$(BIN)/python -m devtools.contracts.openapi write

fuzz: install package ## schemathesis on every operation of openapi/, FUZZ_EXAMPLES (300) cases each
	FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),300) $(BIN)/pytest -q tests/security/test_fuzz.py

# One worker per core: tests are isolated (a moto account each, free ports for the local stack),
# and many of them wait on state machine retries or subprocesses.
pytest: install
	$(BIN)/pytest -q --numprocesses auto -m "not rehearsal"

# The real `osls-compose deploy` and `osls remove` against moto's CloudFormation on this machine,
# from a copy of the repository (about 3 minutes; CI runs it after `make test`).
rehearse: install package ## Deploy rehearsal: compose deploys every stack to an emulator, then osls removes them
	$(BIN)/pytest -q -m rehearsal tests/delivery/test_deploy_rehearsal.py

test: lint package pytest ## Every check: ruff, offline packaging, the whole pytest suite

.PHONY: bench cost
bench: install package ## Performance tables: cold start, warm latency, round trips, sizes, local stack
	$(BIN)/python -m devtools.bench $(BENCH_ARGS)

cost: install package ## Monthly AWS cost of devtools/ops/traffic.toml at the prices of devtools/ops/prices.toml, on prod's templates
	$(BIN)/python -m devtools.ops.cost $(COST_ARGS)

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf services/*/.serverless .cache .pytest_cache .ruff_cache
