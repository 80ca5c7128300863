# The two commands a newcomer needs: `make run` (the local stack) and `make test` (everything CI
# runs). Tools are installed into project-local folders on first use.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# schemathesis cases per operation and phase in `make test` (`make fuzz` runs 25)
FUZZ_TEST_EXAMPLES ?= 10

.PHONY: test fmt-check clippy lint-contracts sam-check venv run bench bench-emulator bench-lambda soak fuzz clean

venv: $(VENV)/.installed
$(VENV)/.installed: infra/emulator/requirements.txt infra/lint-requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r infra/emulator/requirements.txt -r infra/lint-requirements.txt
	touch $@

## run: the local stack on 127.0.0.1:$${KUPE_LOCAL_PORT:-8080}; prints the exports to paste
run: venv
	$(CARGO) run --quiet -p kupe-local

## test: format check, clippy (warnings denied), unit and integration tests against the emulator,
## schemathesis over the contract (a CI budget: FUZZ_TEST_EXAMPLES per operation and phase), SAM
test: fmt-check clippy lint-contracts
	infra/emulator/with-emulator.sh $(CARGO) nextest run --workspace --no-fail-fast
	FUZZ_MAX_EXAMPLES=$(FUZZ_TEST_EXAMPLES) infra/fuzz/run.sh
	infra/sam/check.sh

## sam-check: sam validate --lint, sam build, sam local invoke / start-api against the emulator
sam-check: venv
	infra/sam/check.sh

## lint-contracts: cfn-lint on template.yaml (SAM transform included), OpenAPI validation
lint-contracts: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -c "import yaml; from openapi_spec_validator import validate; validate(yaml.safe_load(open('infra/openapi.yaml'))); print('infra/openapi.yaml: valid OpenAPI 3.0')"

## fuzz: schemathesis (all phases, stateful included) over infra/openapi.yaml against the local stack
fuzz: venv
	infra/fuzz/run.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf $(VENV) target

## bench: lifecycle figures on the emulator (quoted in the README)
bench: venv
	infra/emulator/with-emulator.sh $(CARGO) run --quiet -p kupe-tests --example lifecycle_bench

## bench-emulator: PATCH/s, GET/s, create latency at 5 and 5,000 clusters, emulator RSS (bench/emulator.md)
bench-emulator: venv
	infra/emulator/with-emulator.sh $(CARGO) run --quiet -p kupe-tests --example emulator_bench

## bench-lambda: every release bootstrap next to a hello-world one under a runtime-API harness:
## Init, first and warm request, CPU per request, peak RSS, sizes (bench/lambda.md). Builds with
## the release profile (fat LTO: ~15 min on two cores); BENCH_BUILD=timed builds only the timed ones
bench-lambda: venv
	infra/emulator/with-emulator.sh $(CARGO) run --quiet -p kupe-tests --example lambda_bench

## soak: N lifecycles + M GET/PATCH-If-Match clients against the local stack for T minutes
## (about 10 min by default; larger: make soak SOAK_ARGS="--lifecycles 8 --clients 8 --minutes 20")
soak: venv
	python3 bench/soak.py $(SOAK_ARGS)
