# turnout — everyday targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
ENV ?=
WORK := .work
TF_MODULES := $(sort $(wildcard modules/*))

# Providers come from a local filesystem mirror when one is present (offline machines, CI);
# set TURNOUT_PROVIDER_MIRROR= (empty) to use your own Terraform CLI configuration instead.
export TURNOUT_PROVIDER_MIRROR ?= $(wildcard /opt/tf-plugins)

.PHONY: help install test test-full lint lint-python lint-terraform checkov plan apply demo demo-rollback cutover render clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/turnout: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,sandbox]'
	@touch $@

$(CHECKOV_VENV)/bin/checkov:
	@# checkov pins old boto3/urllib3 and ships a clashing `hcl2`: it gets its own environment.
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov
	@touch $@

install: $(BIN)/turnout $(CHECKOV_VENV)/bin/checkov ## Create the virtual environments (turnout, checkov)

# Three workers on two cores: much of a sandbox test is waiting, not computing (the AWS
# provider sleeps 10 s before it polls a new or updated stream, 10-30 s after a Route 53 change;
# drains, quiet periods and the rehearsal's clock wait), and a third worker fills those waits.
# Measured on a 2-core machine on 2026-12-02, idle otherwise: the whole suite in 46 min 33 s with
# three workers (load average 9-13, every test passed); each sandbox file took 15-25 % longer
# than with two, where the suite's tests took 50-60 min (CI's last runs: 37.6 and 55 min in all).
# An earlier measurement favoured two: three sandboxes at 200 events/s then shared the cores;
# the sandbox tests now run at 20-100.
# One test file runs in one worker (--dist loadfile), so module-scoped emulators and sandboxes
# stay shared by their tests.
TEST_WORKERS ?= 3
PYTEST_SUITE = $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30
test: $(BIN)/turnout ## Run the whole test suite (unit + integration on the local emulator), TEST_WORKERS=3 in parallel
	$(PYTEST_SUITE)

test-full: $(BIN)/turnout ## The whole suite plus what CI leaves out: the whole-move scenario, and the kill tests killing in every transition
	TURNOUT_TEST_SCOPE=full $(PYTEST_SUITE)

lint: lint-python lint-terraform checkov ## ruff, terraform fmt/validate, checkov

lint-python: $(BIN)/turnout
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-terraform: $(BIN)/turnout
	terraform fmt -check -recursive -diff modules terraform
	$(BIN)/python -m turnout.deploy.validate $(TF_MODULES) terraform

checkov: $(CHECKOV_VENV)/bin/checkov ## checkov over modules/ and terraform/ (zero failures)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework terraform -d modules
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework terraform -d terraform

render: $(BIN)/turnout ## Render terraform/<env>.tfvars.json from terraform/migration.yaml
	$(BIN)/turnout render

plan: $(BIN)/turnout ## Plan one environment: make plan ENV=new
	@test -n "$(ENV)" || { echo "error: ENV is required: make plan ENV=old or make plan ENV=new" >&2; exit 2; }
	$(BIN)/turnout plan --env $(ENV)

apply: $(BIN)/turnout ## Apply the reviewed plan of one environment: make apply ENV=new
	@test -n "$(ENV)" || { echo "error: ENV is required: make apply ENV=old or make apply ENV=new" >&2; exit 2; }
	$(BIN)/turnout apply --env $(ENV)

demo: $(BIN)/turnout ## The main job on the sandbox: a whole migration with live traffic, then the report
	$(BIN)/turnout sandbox demo

demo-rollback: $(BIN)/turnout ## The same, but roll back from new-live instead of committing
	$(BIN)/turnout sandbox demo --rollback

cutover: $(BIN)/turnout ## Drive the live phase to the spec's phase (add SANDBOX=1 for the running sandbox)
	$(BIN)/turnout cutover $(if $(SANDBOX),--sandbox,)

.PHONY: bench
bench: $(BIN)/turnout ## Benchmarks (handler; in-process AWS model; replication, drain, verify on the emulator; the report of 100 streams; PROFILE=fast for moto as it is; default aws): writes bench/RESULTS.md
	$(BIN)/python bench/run.py $(if $(PROFILE),--profile $(PROFILE),)

.PHONY: profile-test
profile-test: $(BIN)/turnout ## `make test` with every Terraform command timed and every process's CPU sampled: writes bench/TEST_PROFILE.md
	$(BIN)/python bench/profile_tests.py -- $(PYTEST_SUITE)

.PHONY: chaos
chaos: $(BIN)/turnout ## Chaos suite: cutover + rollback under injected faults, several seeds: writes docs/reliability.md
	$(BIN)/python -m turnout.sandbox.chaos.reliability $(if $(SEEDS),--seeds $(SEEDS),)

.PHONY: e2e-aws e2e-emulator
e2e-aws: $(BIN)/turnout ## Sandbox pipeline + full cutover in two real accounts (TURNOUT_E2E_*), then teardown
	$(BIN)/python -m turnout.sandbox.e2e $(if $(ROLLBACK),--rollback,)

e2e-emulator: $(BIN)/turnout ## The same end-to-end script on the local emulator (a third-account producer)
	$(BIN)/python -m turnout.sandbox.e2e --emulator $(if $(ROLLBACK),--rollback,)

.PHONY: check-core-install
check-core-install: ## pip install . (no extras) in a fresh venv: the operator tool works, moto is absent
	.ci/check-core-install

clean: ## Remove the work directory (local state of the sandbox, plans, builds)
	rm -rf $(WORK) build
