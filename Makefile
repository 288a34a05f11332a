# The two commands: `make up` (run the workbench) and `make test` (run the tests).
SITE ?= hub_config/site.toml
export SITE

.PHONY: up down uninstall test unit lint docs check-site

up:  ## install, provision and start the factory on this machine
	scripts/factory up

down:  ## stop the daemons the factory started (data is kept)
	scripts/factory down

uninstall:  ## stop everything and remove what make up added (YES=1: no question; KEEP_DATA=1: keep databases and homes)
	scripts/factory uninstall $(if $(YES),--yes) $(if $(KEEP_DATA),--keep-data)

test:  ## bring the factory up and run every test tier
	scripts/factory test

unit:  ## unit tests only (no daemons needed)
	.venv/bin/pytest tests/unit

lint:  ## ruff on the Python code and notebooks, then ansible-lint (production profile)
	.venv/bin/ruff check .
	cd ansible && ../.venv/bin/ansible-lint --profile production

docs:  ## regenerate the configuration reference from the site schema
	PYTHONPATH=src python3 -m aiworkbench.core.site docs > docs/configuration.md

check-site:  ## validate a site file
	PYTHONPATH=src python3 -m aiworkbench.core.site check $(SITE)
