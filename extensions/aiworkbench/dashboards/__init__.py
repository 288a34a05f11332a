"""Manager dashboards: accounting history and its store."""
