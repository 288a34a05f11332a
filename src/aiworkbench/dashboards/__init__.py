"""Managers' dashboards: the accounting history (:mod:`.history`), its DuckDB store
(:mod:`.store`) filled by :mod:`.ingest`, the queries (:mod:`.queries`) and views
(:mod:`.views`) the Voila notebooks show, and the Voila service (:mod:`.service`)."""
