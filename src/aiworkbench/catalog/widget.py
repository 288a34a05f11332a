"""The factory's datasets in the notebook: ``aiworkbench.datasets()``.

    import aiworkbench
    aiworkbench.datasets()          # search, filter, open a dataset, preview, get code
    aiworkbench.datasets("iris")    # start with a search

What exists and who may see it comes from the workbench API (``datasets``,
``datasets/NAME``, ``datasets/NAME/files``, ``catalog``), never from walking the
shared filesystem. Previews read the files themselves, in this kernel, as you:
every path is first resolved inside the dataset's folder
(:func:`~aiworkbench.catalog.paths.resolve_inside`), so ``..``, absolute paths and
symbolic links leading out of the dataset are refused before anything is read, and
the filesystem's permissions still decide what you may read. Two layers:

* :class:`CatalogModel` holds what is shown (the last good search answer, the open
  dataset, its folder listing, the preview, the status line) and talks to the API
  through an injected ``fetch`` (default :func:`~aiworkbench.widgets.api_client.api_get`);
  it needs no ipywidgets and is what the unit tests drive;
* :class:`DatasetBrowser` draws a model with ipywidgets (imported only there) and
  offers the same actions for scripting: ``search``, ``open``, ``browse``,
  ``show_file``, ``next_page``, ``previous_page``, ``snippet``, ``insert``.

Refusals (a path out of the dataset, an unknown page, an API error) go to the
status line in plain words; the results shown before stay.
"""

from __future__ import annotations

import html
import importlib
import os
import posixpath
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from aiworkbench.catalog.index import FILTERS, MAX_FOLDER_PAGE, MAX_PER_PAGE
from aiworkbench.catalog.paths import PathError, clean_relative, resolve_inside
from aiworkbench.catalog.preview import IMAGES
from aiworkbench.core import names
from aiworkbench.core.units import human_size
from aiworkbench.widgets.api_client import Asker, api_get
from aiworkbench.widgets.base import STATUS_COLOURS, Shown, counted, status_line
from aiworkbench.widgets.templating import render

PER_PAGE = 20  # datasets per page (the API allows 1 to MAX_PER_PAGE)
FILES_PER_PAGE = 100  # folder entries per page (the API allows 1 to MAX_FOLDER_PAGE)
THUMBNAILS = 12  # thumbnails shown for a folder of images
THUMBNAIL_SIZE = 96
ANY = ""  # the dropdowns' value for "any"
NOT_PERMITTED = "you may not read this file (filesystem permissions)"
NO_DATASET = "no dataset is open: open one first (click a result, or browser.open(NAME))"
INSERT_COMMANDS = ("notebook:insert-cell-below", "notebook:replace-selection")
# The status line's colour for each kind of what the model says.
STATUS_COLOUR = {
    "info": STATUS_COLOURS["info"],
    "error": STATUS_COLOURS["error"],
    "unreachable": STATUS_COLOURS["warning"],
}


# --- words and numbers ------------------------------------------------------------------


def access_text(access) -> str:
    """'public', or 'restricted: edu-intro, sme-vision'."""
    if access == "public" or not access:
        return "public"
    if isinstance(access, str):
        return f"restricted: {access}"
    return "restricted: " + ", ".join(str(p) for p in access)


def result_text(item: dict) -> str:
    """One search result in words (after its title): name, kind, size, files, access."""
    return " · ".join(
        [
            str(item.get("name", "")),
            f"{item.get('modality', '?')}/{item.get('format', '?')}",
            human_size(item.get("bytes")),
            counted(int(item.get("files") or 0), "file", "files"),
            access_text(item.get("access")),
        ]
    )


def pages_text(answer: dict | None, one: str = "dataset", many: str = "datasets") -> str:
    """'page 2 of 7, 134 datasets'; 'no datasets' when nothing matched."""
    if not answer:
        return ""
    total = int(answer.get("total") or 0)
    if total == 0:
        return f"no {many}"
    return f"page {answer.get('page', 1)} of {answer.get('pages', 1)}, {counted(total, one, many)}"


def facet_options(counts: dict[str, int], chosen: str = ANY) -> list[tuple[str, str]]:
    """Dropdown options: ('any', '') first, then 'value (count)', most datasets first.
    A chosen value the facets do not list (none visible) is kept, without a count."""
    options = [("any", ANY)]
    for value, n in sorted(counts.items(), key=lambda vn: (-vn[1], vn[0])):
        options.append((f"{value} ({n})", value))
    if chosen and chosen not in counts:
        options.append((chosen, chosen))
    return options


def check_filters(filters: dict) -> dict[str, str]:
    """The filters that are set, as text; ValueError for a name that is not a filter.
    None, '' and 'any' mean any value."""
    chosen = {}
    for name, value in filters.items():
        if name not in FILTERS:
            raise ValueError(f"{name!r} is not a filter; the filters are {', '.join(FILTERS)}")
        if value is None or value == ANY or value == "any":
            continue
        if not isinstance(value, str):
            raise ValueError(f"filter {name} must be text (got {value!r})")
        chosen[name] = value
    return chosen


def check_per_page(per_page, maximum: int, what: str) -> int:
    if (
        isinstance(per_page, bool)
        or not isinstance(per_page, int)
        or not (1 <= per_page <= maximum)
    ):
        raise ValueError(f"{what} must be a whole number from 1 to {maximum} (got {per_page!r})")
    return per_page


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGES)


def join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def parent(folder: str) -> str:
    return posixpath.dirname(folder.rstrip("/"))


def catalog_module(name: str):
    """``aiworkbench.catalog.NAME`` (previews and snippets: imported when first needed)."""
    return importlib.import_module(f"aiworkbench.catalog.{name}")


# --- HTML (the templates catalog_*.html) ----------------------------------------------


def status_html(kind: str, text: str) -> str:
    if not text:
        return ""
    return status_line(text, STATUS_COLOUR[kind], mark=kind != "info", bold=kind != "info")


def datacard_html(detail: dict) -> str:
    """The datacard of ``datasets/NAME``'s answer, every value escaped."""
    tags = detail.get("tags") or []
    rows = [
        ("name", str(detail.get("name", ""))),
        ("owner", str(detail.get("owner", ""))),
        ("licence", str(detail.get("licence", ""))),
        ("citation", str(detail.get("citation") or "—")),
        ("kind", f"{detail.get('modality', '?')}/{detail.get('format', '?')}"),
        ("tags", ", ".join(str(t) for t in tags) if tags else "—"),
        ("access", access_text(detail.get("access"))),
        ("files", str(detail.get("files", "?"))),
        ("size", human_size(detail.get("bytes"))),
        ("path", str(detail.get("path", "—"))),
    ]
    return render(
        "catalog_datacard.html",
        title=str(detail.get("title", "")),
        description=str(detail.get("description", "")),
        rows=rows,
    )


def message_html(text: str) -> str:
    return render("catalog_message.html", text=text, colour=STATUS_COLOURS["error"])


def code_html(code: str) -> str:
    return render("catalog_code.html", code=code)


def result_html(item: dict) -> str:
    """A search result's words, beside its button."""
    return render("catalog_result.html", text=result_text(item))


def folder_html(dataset: str, folder: str) -> str:
    return render("catalog_folder.html", dataset=dataset, folder=folder)


def file_html(path: str) -> str:
    return render("catalog_file.html", path=path)


def heading_html(text: str) -> str:
    return render("catalog_heading.html", text=text)


# --- the model --------------------------------------------------------------------------


class CatalogModel(Asker):
    """What the dataset browser shows, and the actions that change it. Every action
    returns True when it worked; otherwise the status line says why and what was shown
    before stays."""

    def __init__(
        self,
        fetch: Callable[..., dict] = api_get,
        *,
        per_page: int = PER_PAGE,
        files_per_page: int = FILES_PER_PAGE,
        previews=None,
        snippets=None,
    ):
        super().__init__(fetch)
        self.per_page = check_per_page(per_page, MAX_PER_PAGE, "per_page")
        self.files_per_page = check_per_page(files_per_page, MAX_FOLDER_PAGE, "files_per_page")
        self._previews, self._snippets = previews, snippets
        # the catalog: facet counts for the dropdowns
        self.facets: dict[str, dict[str, int]] = {name: {} for name in FILTERS}
        self.projects: list[str] = []
        self.visible: int | None = None
        # the last search that worked and its answer
        self.text, self.filters = "", {}
        self.results: dict | None = None
        # the open dataset, the folder shown, the preview
        self.detail: dict | None = None
        self.folder = ""
        self.files: dict | None = None
        self.shown_file: str | None = None
        self.preview = None  # the last Preview (aiworkbench.catalog.preview)
        self.preview_html = ""
        self.preview_error = ""

    # -- the catalog and the search

    def load_catalog(self) -> bool:
        """The facet counts for the dropdowns and the user's projects."""
        answer = self._ask("the request for the catalog's facets", "catalog", None, "facets")
        if answer is None:
            return False
        facets = answer.get("facets") or {}
        self.facets = {name: dict(facets.get(name) or {}) for name in FILTERS}
        self.projects = list(answer.get("projects") or [])
        self.visible = answer.get("datasets")
        return True

    def search(self, text: str = "", *, page: int = 1, **filters) -> bool:
        """Search for ``text`` (free words; "" lists everything) with ``filters``
        (modality, format, licence, tag, project; None or "any": any value)."""
        if not isinstance(text, str):
            raise ValueError(f"the search text must be text (got {text!r})")
        chosen = check_filters(filters)
        params = {"q": text.strip()} if text.strip() else {}
        params.update(chosen)
        params.update({"page": str(page), "per_page": str(self.per_page)})
        answer = self._ask("the search", "datasets", params, "items")
        if answer is None:
            return False
        self.text, self.filters, self.results = text.strip(), chosen, answer
        self.say("")
        return True

    def _page_of_results(self, step: int) -> bool:
        if self.results is None:
            self.say("there are no results to page through yet: search first", "error")
            return False
        page, pages = int(self.results.get("page", 1)), int(self.results.get("pages", 1))
        wanted = page + step
        if not 1 <= wanted <= pages:
            where = "last" if step > 0 else "first"
            self.say(
                f"already on the {where} page (page {page} of {pages}); pages go from 1 to {pages}",
                "error",
            )
            return False
        return self.search(self.text, page=wanted, **self.filters)

    def next_page(self) -> bool:
        return self._page_of_results(+1)

    def previous_page(self) -> bool:
        return self._page_of_results(-1)

    # -- one dataset

    def open(self, name: str) -> bool:
        """Show dataset ``name``: its datacard and its folder."""
        why = names.DATASET.problem(name)
        if why:
            self.say(why, "error")
            return False
        answer = self._ask(
            f"the request for dataset {name!r}",
            "datasets/" + urllib.parse.quote(name, safe=""),
            None,
            "name",
        )
        if answer is None:
            return False
        self.detail, self.folder, self.files = answer, "", None
        self._clear_preview()
        self.say("")
        return self.browse("")

    def browse(self, path: str = "", page: int = 1) -> bool:
        """List folder ``path`` of the open dataset ("": its own folder); a folder of
        images shows their thumbnails."""
        if self.detail is None:
            self.say(NO_DATASET, "error")
            return False
        try:
            relative = clean_relative(path)
        except PathError as err:
            self.say(f"Refused: {err}", "error")
            return False
        name = self.detail["name"]
        answer = self._ask(
            f"the listing of folder {relative or '/'!r} in dataset {name!r}",
            f"datasets/{urllib.parse.quote(name, safe='')}/files",
            {"path": relative, "page": str(page), "per_page": str(self.files_per_page)},
            "entries",
        )
        if answer is None:
            return False
        self.folder, self.files = relative, answer
        self.say("")
        self._clear_preview()
        images = [
            e["name"]
            for e in answer["entries"]
            if e.get("kind") == "file" and is_image(e.get("name", ""))
        ]
        if images:
            self._show_thumbnails(images[:THUMBNAILS])
        return True

    def up(self) -> bool:
        """The folder above the one shown."""
        if self.detail is not None and not self.folder:
            self.say(
                "already in the dataset's own folder; only folders inside the dataset "
                "can be browsed",
                "error",
            )
            return False
        return self.browse(parent(self.folder))

    def files_page(self, step: int) -> bool:
        """The next (+1) or previous (-1) page of the folder shown."""
        if self.files is None:
            self.say(NO_DATASET, "error")
            return False
        page, pages = int(self.files.get("page", 1)), int(self.files.get("pages", 1))
        if not 1 <= page + step <= pages:
            self.say(f"this folder has pages 1 to {pages}; this is page {page}", "error")
            return False
        return self.browse(self.folder, page + step)

    # -- previews: read here, in the kernel, only inside the dataset's folder

    def _clear_preview(self) -> None:
        self.shown_file, self.preview, self.preview_html, self.preview_error = None, None, "", ""

    def _refuse_preview(self, text: str) -> bool:
        self.preview, self.preview_html, self.preview_error = None, "", text
        self.say(text, "error")
        return False

    def _folder(self) -> str | None:
        folder = str(self.detail.get("path") or "")
        return folder if folder.startswith("/") else None

    def _inside(self, relative: str) -> Path:
        """The real path of ``relative`` inside the open dataset; PathError otherwise."""
        folder = self._folder()
        if folder is None:
            raise PathError(
                f"the API gave no absolute folder for dataset "
                f"{self.detail.get('name')!r} (path {self.detail.get('path')!r}), "
                f"so its files cannot be previewed here"
            )
        return resolve_inside(folder, relative)

    def previews(self):
        if self._previews is None:
            self._previews = catalog_module("preview")
        return self._previews

    def show_file(self, relative_path: str) -> bool:
        """Preview one file of the open dataset (``relative_path`` from its folder)."""
        if self.detail is None:
            self.say(NO_DATASET, "error")
            return False
        self._clear_preview()
        try:
            target = self._inside(relative_path)
        except PathError as err:
            return self._refuse_preview(f"Refused: {err}")
        shown = clean_relative(relative_path)
        name = self.detail["name"]
        try:
            if target.is_dir():
                return self._refuse_preview(
                    f"{shown!r} is a folder, not a file: browse it (click it, or "
                    f"browser.browse({shown!r})); only files can be previewed"
                )
            if not target.is_file():
                return self._refuse_preview(
                    f"no file {shown!r} in dataset {name!r} as seen from this session "
                    f"(folder {self.detail.get('path')}); choose a file from the list"
                )
            if not os.access(target, os.R_OK):
                raise PermissionError(target)
        except PermissionError:
            return self._refuse_preview(f"{shown}: {NOT_PERMITTED}")
        try:
            preview = self.previews().preview_file(target)
            page = self.previews().to_html(preview)
        except PermissionError:
            return self._refuse_preview(f"{shown}: {NOT_PERMITTED}")
        except ImportError as err:
            return self._refuse_preview(f"previews are not available in this kernel: {err}")
        except (OSError, ValueError) as err:
            return self._refuse_preview(f"could not preview {shown!r}: {err}")
        self.shown_file, self.preview, self.preview_html = shown, preview, page
        self.say("")
        return True

    def _show_thumbnails(self, names: list[str]) -> None:
        paths, refused = [], []
        for image in names:
            try:
                paths.append(self._inside(join(self.folder, image)))
            except PathError:
                refused.append(image)
        skipped = f" (left out, not inside the dataset: {', '.join(refused)})" if refused else ""
        if not paths:
            self.preview_error = "no thumbnails: " + skipped.strip(" ()")
            return
        try:
            preview = self.previews().preview_images(paths, size=THUMBNAIL_SIZE, limit=THUMBNAILS)
            page = self.previews().to_html(preview)
        except PermissionError:
            self.preview_error = f"thumbnails: {NOT_PERMITTED}"
            return
        except ImportError as err:
            self.preview_error = f"previews are not available in this kernel: {err}"
            return
        except (OSError, ValueError) as err:
            self.preview_error = f"could not draw thumbnails: {err}"
            return
        self.preview, self.preview_html = preview, page
        if refused:
            self.preview_error = skipped.strip()

    # -- code to load it

    def snippets(self):
        if self._snippets is None:
            self._snippets = catalog_module("snippets")
        return self._snippets

    def libraries(self) -> dict[str, str]:
        """{library: label} for the loader snippets."""
        return dict(self.snippets().LIBRARIES)

    def snippet(self, library: str) -> str:
        """Code that loads the open dataset with ``library``."""
        libraries = self.libraries()
        if library not in libraries:
            raise ValueError(
                f"{library!r} is not a library with a snippet; choose one of {', '.join(libraries)}"
            )
        if self.detail is None:
            raise ValueError(NO_DATASET)
        return self.snippets().snippet(self.detail, library)

    # -- text

    def text_lines(self) -> list[str]:
        lines = [self.status] if self.status else []
        if self.results is not None:
            lines.append(pages_text(self.results))
            lines += [
                f"  {item.get('title', '')} — {result_text(item)}" for item in self.results["items"]
            ]
        if self.detail is not None:
            lines.append(
                f"Open: {self.detail.get('name')} ({self.detail.get('path', '')}), "
                f"folder {self.folder or '/'}"
            )
        return lines


# --- the widget -------------------------------------------------------------------------


class DatasetBrowser(Shown):
    """The dataset browser. ``widget`` is the ipywidgets VBox the notebook shows: search
    and filters, the results with paging, the status line, and for the open dataset its
    datacard, files, preview and loader code."""

    def __init__(
        self,
        query: str = "",
        *,
        fetch: Callable[..., dict] = api_get,
        per_page: int = PER_PAGE,
        files_per_page: int = FILES_PER_PAGE,
        previews=None,
        snippets=None,
        **filters,
    ):
        import ipywidgets  # only here: the model works without it

        self._w = ipywidgets
        check_filters(filters)
        self.model = CatalogModel(
            fetch,
            per_page=per_page,
            files_per_page=files_per_page,
            previews=previews,
            snippets=snippets,
        )
        self._app = None  # ipylab's JupyterFrontEnd, made at the first insert
        self._syncing = False
        self._drawn_results = self._drawn_files = self._drawn_detail = None
        w, auto = ipywidgets, ipywidgets.Layout(width="auto")

        # search and filters
        self.query_box = w.Text(
            value=query,
            placeholder="words in names, titles, descriptions, tags",
            continuous_update=False,
            layout=w.Layout(width="420px"),
        )
        self.search_button = w.Button(description="Search", icon="search", button_style="primary")
        self.search_row = w.HBox([self.query_box, self.search_button])
        self.search_row.add_class("aiwb-ds-search")
        self.dropdowns = {
            name: w.Dropdown(
                description=name,
                options=[("any", ANY)],
                value=ANY,
                layout=w.Layout(width="210px"),
                style={"description_width": "60px"},
            )
            for name in FILTERS
        }
        self.filter_row = w.HBox(
            list(self.dropdowns.values()), layout=w.Layout(flex_flow="row wrap")
        )
        self.filter_row.add_class("aiwb-ds-filters")
        self.status = w.HTML()
        self.status.add_class("aiwb-ds-status")

        # results and paging
        self.results = w.VBox()
        self.results.add_class("aiwb-ds-results")
        self.previous_button = w.Button(description="previous", icon="arrow-left")
        self.next_button = w.Button(description="next", icon="arrow-right")
        self.pages_label = w.HTML()
        self.pager = w.HBox([self.previous_button, self.pages_label, self.next_button])
        self.pager.add_class("aiwb-ds-pages")

        # the open dataset
        self.card = w.HTML()
        self.folder_label = w.HTML()
        self.up_button = w.Button(description="up", icon="level-up", layout=auto)
        self.entries = w.VBox(layout=w.Layout(align_items="flex-start"))
        self.files_previous = w.Button(description="previous", icon="arrow-left")
        self.files_next = w.Button(description="next", icon="arrow-right")
        self.files_label = w.HTML()
        self.files_box = w.VBox(
            [
                w.HBox([self.up_button, self.folder_label]),
                self.entries,
                w.HBox([self.files_previous, self.files_label, self.files_next]),
            ]
        )
        self.files_box.add_class("aiwb-ds-files")
        self.preview = w.HTML()
        self.preview.add_class("aiwb-ds-preview")
        self.libraries = w.ToggleButtons(options=[])
        self.libraries.add_class("aiwb-ds-libraries")
        self.snippet_view = w.HTML()
        self.snippet_view.add_class("aiwb-ds-snippet")
        self.insert_button = w.Button(description="Insert into next cell", icon="plus", layout=auto)
        self.insert_button.add_class("aiwb-ds-insert")
        self.use_box = w.VBox(
            [
                w.HTML(heading_html("Use it")),
                self.libraries,
                self.snippet_view,
                w.HBox([self.insert_button]),
            ]
        )
        self.close_button = w.Button(description="close dataset", icon="times", layout=auto)
        self.detail = w.VBox(
            [
                w.HBox([self.close_button]),
                self.card,
                w.HTML(heading_html("Files")),
                self.files_box,
                w.HTML(heading_html("Preview")),
                self.preview,
                self.use_box,
            ],
            layout=w.Layout(display="none"),
        )
        self.detail.add_class("aiwb-ds-detail")

        self.widget = w.VBox(
            [self.search_row, self.filter_row, self.status, self.results, self.pager, self.detail]
        )
        self.widget.add_class("aiwb-ds")

        self._fill_libraries()
        self.search_button.on_click(lambda _: self._search_from_controls())
        self.query_box.observe(lambda _: self._search_from_controls(), "value")
        for dropdown in self.dropdowns.values():
            dropdown.observe(lambda _: self._search_from_controls(), "value")
        self.previous_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.up_button.on_click(lambda _: self._do(self.model.up))
        self.files_previous.on_click(lambda _: self._do(self.model.files_page, -1))
        self.files_next.on_click(lambda _: self._do(self.model.files_page, +1))
        self.close_button.on_click(lambda _: self.close_dataset())
        self.libraries.observe(lambda _: self._draw_snippet(), "value")
        self.insert_button.on_click(lambda _: self.insert())

        self.model.load_catalog()
        catalog_status = (self.model.status, self.model.status_kind)
        self.model.search(query, **filters)
        if not self.model.status and catalog_status[0]:
            self.model.say(catalog_status[0], catalog_status[1])
        self.draw()

    # -- actions (for the buttons and for scripting); each redraws

    def _do(self, action: Callable[..., bool], *args) -> bool:
        try:
            return action(*args)
        finally:
            self.draw()

    def search(self, text: str = "", **filters) -> bool:
        """Search for ``text`` with filters (modality, format, licence, tag, project)."""
        return self._do(lambda: self.model.search(text, **filters))

    def next_page(self) -> bool:
        return self._do(self.model.next_page)

    def previous_page(self) -> bool:
        return self._do(self.model.previous_page)

    def open(self, name: str) -> bool:
        """Open dataset ``name``: its datacard, files and loader code."""
        return self._do(self.model.open, name)

    def browse(self, path: str = "", page: int = 1) -> bool:
        """Show folder ``path`` of the open dataset ("" is its own folder)."""
        return self._do(self.model.browse, path, page)

    def show_file(self, relative_path: str) -> bool:
        """Preview a file of the open dataset, read in this kernel."""
        return self._do(self.model.show_file, relative_path)

    def close_dataset(self) -> None:
        self.model.detail, self.model.files, self.model.folder = None, None, ""
        self.model._clear_preview()
        self.model.say("")
        self.draw()

    def snippet(self, library: str | None = None) -> str:
        """Code that loads the open dataset with ``library`` (default: the one chosen)."""
        return self.model.snippet(library or self.libraries.value)

    def insert(self, library: str | None = None) -> bool:
        """Put the snippet into a new cell below the one showing this browser (JupyterLab,
        through ipylab). Without ipylab the status line says to copy the code instead."""
        library = library or self.libraries.value
        try:
            code = self.model.snippet(library)
        except (ValueError, ImportError) as err:
            self.model.say(f"Nothing to insert: {err}", "error")
            self.draw()
            return False
        app = self._frontend()
        if app is None:
            self.model.say(
                "ipylab is not installed in this kernel, so the code cannot be "
                "inserted for you: copy it from the box above into a new cell",
                "error",
            )
            self.draw()
            return False
        app.commands.execute(INSERT_COMMANDS[0])
        app.commands.execute(INSERT_COMMANDS[1], {"text": code})
        self.model.say(f"Inserted the {library} code into a new cell below this one.")
        self.draw()
        return True

    def _frontend(self):
        """ipylab's JupyterFrontEnd, made once per browser; None without ipylab."""
        if self._app is None:
            try:
                from ipylab import JupyterFrontEnd
            except ImportError:
                return None
            self._app = JupyterFrontEnd()
        return self._app

    def _search_from_controls(self) -> None:
        if self._syncing:
            return
        filters = {name: d.value for name, d in self.dropdowns.items()}
        self.search(self.query_box.value, **filters)

    # -- drawing

    def _fill_libraries(self) -> None:
        try:
            libraries = self.model.libraries()
        except ImportError as err:
            self.libraries.options = []
            self.snippet_view.value = message_html(
                f"loader snippets are not available in this kernel: {err}"
            )
            self.insert_button.disabled = True
            return
        self.libraries.options = [(label, key) for key, label in libraries.items()]
        self.libraries.tooltips = list(libraries.values())
        self.libraries.value = next(iter(libraries), None)

    def draw(self) -> None:
        """Show the model's state."""
        self._syncing = True
        try:
            self._draw()
        finally:
            self._syncing = False

    def _draw(self) -> None:
        model, w = self.model, self._w
        self.status.value = status_html(model.status_kind, model.status)
        new_results = model.results is not self._drawn_results
        for name, dropdown in self.dropdowns.items():
            chosen = model.filters.get(name, ANY) if new_results else dropdown.value
            options = facet_options(model.facets[name], chosen)
            if list(dropdown.options) != options:
                dropdown.options = options
            dropdown.value = chosen
        if new_results:
            self._drawn_results = model.results
            self.query_box.value = model.text
            for row in self.results.children:
                row.close()
            rows = []
            for item in (model.results or {}).get("items", []):
                dataset = item.get("name")
                button = w.Button(
                    description=str(item.get("title") or dataset),
                    tooltip=f"open {dataset}",
                    layout=w.Layout(width="auto", max_width="420px"),
                )
                button.add_class("aiwb-ds-result")
                button.on_click(lambda _, dataset=dataset: self.open(dataset))
                info = w.HTML(result_html(item))
                rows.append(w.HBox([button, info]))
            self.results.children = rows
        page = int((model.results or {}).get("page", 1))
        pages = int((model.results or {}).get("pages", 1))
        self.pages_label.value = html.escape(pages_text(model.results))
        self.previous_button.disabled = page <= 1
        self.next_button.disabled = page >= pages
        self._draw_detail()

    def _draw_detail(self) -> None:
        model, w = self.model, self._w
        if model.detail is None:
            self.detail.layout.display = "none"
            self._drawn_detail = self._drawn_files = None
            return
        self.detail.layout.display = "flex"
        if model.detail is not self._drawn_detail:
            self._drawn_detail = model.detail
            self.card.value = datacard_html(model.detail)
            self._draw_snippet()
        if model.files is not self._drawn_files:
            self._drawn_files = model.files
            for entry in self.entries.children:
                entry.close()
            buttons = []
            for entry in (model.files or {}).get("entries", []):
                name = str(entry.get("name", ""))
                path = join(model.folder, name)
                if entry.get("kind") == "dir":
                    button = w.Button(
                        description=f"{name}/",
                        icon="folder",
                        tooltip=f"open folder {name}",
                        layout=w.Layout(width="auto"),
                    )
                    button.on_click(lambda _, path=path: self.browse(path))
                else:
                    button = w.Button(
                        description=f"{name} ({human_size(entry.get('size'))})",
                        icon="file",
                        tooltip=f"preview {name}",
                        layout=w.Layout(width="auto"),
                    )
                    button.on_click(lambda _, path=path: self.show_file(path))
                button.add_class("aiwb-ds-entry")
                buttons.append(button)
            self.entries.children = buttons
            self.folder_label.value = folder_html(model.detail["name"], model.folder)
            files = model.files or {}
            self.files_label.value = html.escape(pages_text(files, "entry", "entries"))
            self.up_button.disabled = not model.folder
            self.files_previous.disabled = int(files.get("page", 1)) <= 1
            self.files_next.disabled = int(files.get("page", 1)) >= int(files.get("pages", 1))
        parts = []
        if model.preview_error:
            parts.append(message_html(model.preview_error))
        if model.shown_file:
            parts.append(file_html(model.shown_file))
        parts.append(model.preview_html)
        self.preview.value = "".join(parts)

    def _draw_snippet(self) -> None:
        if self.model.detail is None or not self.libraries.options:
            return
        try:
            code = self.model.snippet(self.libraries.value)
        except (ValueError, ImportError) as err:
            self.snippet_view.value = message_html(f"no code for this dataset: {err}")
            return
        self.snippet_view.value = code_html(code)

    # -- display

    def __repr__(self) -> str:
        return "\n".join(self.model.text_lines()) or "Dataset browser"


def datasets(query: str = "", **filters) -> DatasetBrowser:
    """Browse the factory's datasets: search ``query`` with ``filters`` (modality, format,
    licence, tag, project), open one, preview its files, get code to load it."""
    check_filters(filters)
    return DatasetBrowser(query, **filters)
