# The two commands of the README. Both install first, so they work on a fresh machine.
.PHONY: install up down status test lint bench

install:
	@scripts/install.sh

up: install
	.venv/bin/pricing-platform up

down:
	.venv/bin/pricing-platform down

status:
	.venv/bin/pricing-platform status

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# After the suite, the asset-check stage: every Dagster asset check run by Dagster on a simulated shop.
test: install lint
	.venv/bin/pytest
	.venv/bin/python -m tests.support.asset_check_stage

bench: install
	.venv/bin/python benchmarks/ingest_throughput.py
