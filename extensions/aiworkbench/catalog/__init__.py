"""The factory's dataset catalog: datacards, the index, search (issue 5, in progress).

Each dataset is a folder under the catalog root holding a ``datacard.toml``
(:mod:`.datacard`); :mod:`.index` (re)indexes the root incrementally into
SQLite with full-text search; :mod:`.synthetic` makes large catalogs for
tests and benchmarks.
"""
