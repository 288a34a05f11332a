"""The factory's dataset catalog.

Each dataset is a folder under the catalog root holding a ``datacard.toml``
(:mod:`.datacard`). :mod:`.index` (re)indexes the root incrementally into SQLite
with full-text search and every folder's listing; :mod:`.access` sets the
filesystem permissions that match each datacard; :mod:`.paths` is the one check
of paths inside a dataset. In notebooks, :mod:`.preview` reads only what it
shows and :mod:`.snippets` writes loader code. :mod:`.demo` and :mod:`.synthetic`
build the demo catalog and large test catalogs; :mod:`.cli` is
``aiworkbench-catalog``. Guide: docs/catalog.md.
"""
