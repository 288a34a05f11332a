"""The stdlib-only core: it runs before anything is installed.

The site schema and its reference docs (:mod:`.site`), setup's checks
(:mod:`.preflight`), the daemons' and packages' tables (:mod:`.daemons` with
``daemons.json`` and ``packages.json``), ``make uninstall`` (:mod:`.teardown`),
OpenID Connect setup (:mod:`.oidc`), the one command runner (:mod:`.commands`),
Slurm's commands, parsers and state names (:mod:`.slurm`), sizes in words
(:mod:`.units`), validation problems and refusals (:mod:`.problems`), the stores'
schema versions (:mod:`.store_schema`) and the source archive the environments
install from (:mod:`.source_archive`). Every other folder may import it; it imports
nothing else (tests/unit/test_import_rules.py).
"""
