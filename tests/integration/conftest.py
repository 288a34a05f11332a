"""Fixtures shared by the integration tests.

``postgresql``, the private PostgreSQL 15 cluster of test_backup_tools.py, serves
test_hub_db_migrate.py too: a fixture imported here is found by name in every test of
this folder, with no import in the test module to shadow it.
"""

from .test_backup_tools import postgresql  # noqa: F401 (a fixture, found by name)
