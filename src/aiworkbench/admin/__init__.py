"""Admins' tools: backup and restore (:mod:`.backup`, ``aiworkbench-backup``) and the
hub database's move to PostgreSQL (:mod:`.hub_db_migrate`)."""
