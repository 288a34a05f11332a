"""Manager dashboards (issue 7, in progress): accounting history and its store."""
