"""The hub process's adapter: the site applied to JupyterHub's configuration
(:mod:`.config`), what every spawner and page of the hub shares (:mod:`.shared`), the
authenticators (:mod:`.authenticator`) and the launcher of the hub's services
(:mod:`.services`, ``aiworkbench-service``)."""
