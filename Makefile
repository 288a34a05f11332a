# The two commands: `make up` (run the workbench) and `make test` (run the tests).
SITE ?= hub_config/site.toml
export SITE

.PHONY: up down uninstall check test unit lint format docs check-site

up:  ## install, provision and start the factory on this machine
	scripts/factory up

down:  ## stop the daemons the factory started (data is kept)
	scripts/factory down

uninstall:  ## stop everything and remove what make up added (YES=1: no question; KEEP_DATA=1: keep databases and homes)
	scripts/factory uninstall $(if $(YES),--yes) $(if $(KEEP_DATA),--keep-data)

check:  ## the inner loop: lint, then the unit and component tiers (no daemons, no root; minutes)
	scripts/factory check

test:  ## bring the factory up and run every test tier
	scripts/factory test

unit:  ## unit tests only (no daemons needed)
	.venv/bin/pytest tests/unit

lint:  ## ruff (rules, import order, format) on the code and notebooks, then ansible-lint
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	cd ansible && ../.venv/bin/ansible-lint --profile production

format:  ## sort imports and format the code and notebooks (ruff), as make lint expects
	.venv/bin/ruff check --select I --fix .
	.venv/bin/ruff format .

docs:  ## regenerate the configuration reference from the site schema
	PYTHONPATH=src python3 -m aiworkbench.core.site docs > docs/configuration.md

check-site:  ## validate a site file
	PYTHONPATH=src python3 -m aiworkbench.core.site check $(SITE)
