"""What the notebook widgets share: the refreshing base and status line
(:mod:`.base`), Jinja2 templates with every value escaped (:mod:`.templating`,
``templates/``) and the workbench API's client (:mod:`.api_client`)."""
