"""The widgets' HTML: Jinja2 templates in each feature's ``templates/`` (``PACKAGES``), every
value escaped.

    from aiworkbench.widgets.templating import render
    render("status_line.html", text="Refused: <b>x</b>", colour=STATUS_COLOURS["error"],
           mark=True, bold=True)

Python computes what is said (words, counts, links) and passes it as values; the
templates hold the markup, and no widget writes HTML in a Python string. The colours of
what is said (info, ok, warning, error) are ``widgets.base.STATUS_COLOURS``'s, given to
the templates as values. The rules of the templates:

* Autoescape is on: every ``{{ value }}`` is escaped as :func:`html.escape` does it
  (``&quot;`` and ``&#x27;`` for quotes, the entities these widgets have always
  written), unless the value is already markup (a macro's output). The ``e`` filter is
  not needed, and would write MarkupSafe's ``&#34;`` and ``&#39;`` instead.
* A name the template uses but is not given is an error (``StrictUndefined``), never an
  empty string.
* A line break in the template text and the indentation after it are dropped, so a
  template is written one element per line and renders as one line of HTML, as the
  widgets always did. A space wanted at a line break is written ``{{ " " }}``; text
  inside a line (spaces included) is kept as it is.

Jinja2 is imported at the first render, so ``import aiworkbench`` stays light.
"""

from __future__ import annotations

import functools
import html
import re

# The packages whose templates/ the widgets render (package data); a name is unique
# across them. The hub's pages (aiworkbench/sessions/templates/) are JupyterHub's.
PACKAGES = (
    "aiworkbench.widgets",
    "aiworkbench.budgets",
    "aiworkbench.catalog",
    "aiworkbench.courses",
    "aiworkbench.dashboards",
    "aiworkbench.scaleout",
)
FOLDER = "templates"
_BREAK = re.compile(r"\r?\n[ \t]*")


def render(template: str, /, **values) -> str:
    """``template`` (e.g. ``"status_line.html"``) with ``values``, as a plain str."""
    return str(environment().get_template(template).render(**values))


def escape(value) -> str:
    """A value as a template writes it: html.escape(quote=True); markup as it is."""
    if hasattr(value, "__html__"):
        return value
    from markupsafe import Markup

    return Markup(html.escape(str(value), quote=True))


@functools.cache
def environment():
    """The one Jinja2 environment of the package's templates."""
    import jinja2
    from jinja2.ext import Extension
    from jinja2.lexer import Token

    class JoinLines(Extension):
        """Drops each line break of the template text, and the indentation after it."""

        def filter_stream(self, stream):
            for token in stream:
                if token.type == "data":
                    token = Token(token.lineno, "data", _BREAK.sub("", token.value))
                yield token

    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p, FOLDER) for p in PACKAGES]),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        finalize=escape,
        extensions=[JoinLines],
        auto_reload=False,
        keep_trailing_newline=False,
    )
