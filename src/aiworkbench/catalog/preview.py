"""Previews of a dataset's files that read only what they show.

:func:`preview_file` chooses by the file's extension: the first rows of a CSV
(the first block of a streaming reader), Parquet (schema and row count from
the footer, rows from the first batch of the first row group), JSON lines
and ``.npy`` arrays (memory-mapped); the first bytes of a text file; a
thumbnail of an image. A whole file is never read, so a 1 GB Parquet file
previews in a fraction of a second. :func:`preview_images` makes a grid of
thumbnails and :func:`to_html` renders any preview, everything escaped.

A file that cannot be read (no permission, corrupt, not what its name says)
gives ``kind = "none"`` and a note with the reason, never a traceback: the
preview runs in the user's kernel as the user, so the filesystem decides.
numpy, pyarrow and Pillow are imported inside the functions that need them,
so importing :mod:`aiworkbench` stays light.
"""

from __future__ import annotations

import base64
import codecs
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from aiworkbench.widgets.templating import render

CELL = 80  # characters of a cell shown; longer values end with "…"
MAX_COLUMNS = 50  # columns shown; the schema lists them all
CSV_BLOCKS = (1 << 16, 1 << 20, 1 << 24)  # first block sizes tried (a row must fit)
JSON_LINE = 1 << 20  # bytes of one JSON line read at most
JSON_SCAN = 4 << 20  # bytes a JSON-lines preview reads at most, skipped lines included
SNIFF = 4096  # bytes read to tell text from binary
TABLES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
IMAGES = (".png", ".jpg", ".jpeg")
TEXTS = (
    ".txt",
    ".md",
    ".rst",
    ".json",
    ".toml",
    ".yaml",
    ".yml",
    ".tsv",
    ".py",
    ".log",
    ".xml",
    ".html",
)
SUPPORTED = "csv, parquet, jsonl, npy, png, jpeg and text files (txt, md, json, …)"


@dataclass
class Preview:
    kind: str  # table, images, text, array or none
    title: str  # what is shown, e.g. "first 20 of 150 rows of iris.csv"
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    rows: list[list[str]] = field(default_factory=list)  # cells as short strings
    text: str = ""
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (name, PNG bytes)
    note: str = ""  # why nothing is shown / what was left out


def _cell(value) -> str:
    """``value`` as a short string: None as "null", at most CELL characters."""
    if value is None:
        text = "null"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value[:CELL]))
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _shown(shown: int, total: int | None, word: str, name: str) -> str:
    """ "first 20 of 150 rows of iris.csv", "all 3 rows of …", or an unknown total."""
    if total is None:
        return (
            f"first {_count(shown, word)} of {name} (the total is not known without "
            f"reading the whole file)"
        )
    if shown >= total:
        return f"all {_count(total, word)} of {name}"
    return f"first {shown:,} of {_count(total, word)} of {name}"


def _none(path: Path, reason: str) -> Preview:
    return Preview(kind="none", title=f"no preview of {path.name or path}", note=reason)


def _columns_note(total: int) -> str:
    if total <= MAX_COLUMNS:
        return ""
    return f"showing the first {MAX_COLUMNS} of {total:,} columns"


# --- tables ---------------------------------------------------------------------------
def _arrow_table(path: Path, batch, schema, total: int | None, rows: int) -> Preview:
    """A table preview of the first ``rows`` rows of an Arrow record batch or table."""
    columns = [(f.name, str(f.type)) for f in schema]
    batch = batch.slice(0, rows) if batch is not None else None
    shown = batch.num_rows if batch is not None else 0
    cells = []
    if batch is not None:
        values = [batch.column(i).to_pylist() for i in range(min(batch.num_columns, MAX_COLUMNS))]
        cells = [[_cell(column[r]) for column in values] for r in range(shown)]
    return Preview(
        kind="table",
        title=_shown(shown, total, "row", path.name),
        columns=columns,
        rows=cells,
        note=_columns_note(len(columns)),
    )


def _preview_csv(path: Path, rows: int) -> Preview:
    """The first rows from the first block(s) only: the rest of the file is not parsed.
    A row longer than a block is retried with a bigger block."""
    import pyarrow as pa
    from pyarrow import csv

    size = path.stat().st_size
    if size == 0:
        return _none(path, f"{path.name} is empty")
    for block in CSV_BLOCKS:
        batches, at_end, problem = [], False, ""
        try:
            reader = csv.open_csv(
                path, read_options=csv.ReadOptions(block_size=block, use_threads=False)
            )
            with reader:
                while not at_end and (
                    size <= block or sum(b.num_rows for b in batches) < max(rows, 1)
                ):
                    try:
                        batches.append(reader.read_next_batch())
                    except StopIteration:
                        at_end = True
                    except pa.ArrowInvalid as err:
                        if not batches or "straddling" in str(err):
                            raise
                        problem = f"the rows after these could not be read: {_reason(err)}"
                        break
            break
        except pa.ArrowInvalid as err:
            if "straddling" not in str(err) or block == CSV_BLOCKS[-1]:
                raise
    table = pa.Table.from_batches(batches, schema=reader.schema)
    total = table.num_rows if at_end else None
    shown = _arrow_table(path, table, reader.schema, total, rows)
    shown.note = "; ".join(n for n in (shown.note, problem) if n)
    return shown


def _preview_parquet(path: Path, rows: int) -> Preview:
    """Schema and total rows from the footer; rows from the first batch of the first
    row group (and of the next ones while they are too small), read with a buffered
    stream and no pre-buffering, so only the first pages of each column are read."""
    import pyarrow as pa
    from pyarrow import parquet

    with parquet.ParquetFile(path, buffer_size=1 << 16, pre_buffer=False) as pf:
        schema = pf.schema_arrow
        names = schema.names[:MAX_COLUMNS]
        batches, count = [], 0
        for group in range(pf.metadata.num_row_groups):
            if count >= rows:
                break
            batch = next(
                pf.iter_batches(
                    batch_size=rows - count, row_groups=[group], columns=names, use_threads=False
                ),
                None,
            )
            if batch is not None:
                batches.append(batch)
                count += batch.num_rows
        table = pa.Table.from_batches(batches) if batches else None
        return _arrow_table(path, table, schema, pf.metadata.num_rows, rows)


def _json_type(value) -> str:
    if value is None:
        return "null"
    for kind, name in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (str, "string"),
        (list, "list"),
        (dict, "object"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _skip_line(f) -> None:
    """Read past the rest of the current line, a chunk at a time, at most JSON_SCAN."""
    for _ in range(JSON_SCAN // JSON_LINE):
        chunk = f.readline(JSON_LINE)
        if not chunk or chunk.endswith(b"\n"):
            return


def _preview_jsonl(path: Path, rows: int) -> Preview:
    """The first ``rows`` non-blank lines (each at most JSON_LINE bytes), reading at most
    JSON_SCAN bytes whatever the lines hold."""
    records, problems, at_end = [], [], False
    with open(path, "rb") as f:
        number = 0
        while len(records) < rows and f.tell() < JSON_SCAN:
            line = f.readline(JSON_LINE)
            if not line:
                at_end = True
                break
            number += 1
            if len(line) == JSON_LINE and not line.endswith(b"\n"):
                problems.append(f"line {number} is longer than {JSON_LINE:,} bytes")
                del problems[3:]  # the first few are named
                _skip_line(f)  # not shown
                continue
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as err:
                problems.append(f"line {number} is not valid JSON ({err})")
                del problems[3:]
        if not at_end:
            at_end = not f.peek(1)
    names: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.items() if isinstance(record, dict) else [("value", record)]:
            names.setdefault(str(key), set()).add(_json_type(value))
    keys = list(names)
    columns = [(k, "|".join(sorted(names[k]))) for k in keys]
    cells = []
    for record in records:
        record = record if isinstance(record, dict) else {"value": record}
        cells.append([_cell(record[k]) if k in record else "" for k in keys[:MAX_COLUMNS]])
    notes = [n for n in [_columns_note(len(keys)), "; ".join(problems[:3])] if n]
    total = len(records) if at_end and not problems else None
    return Preview(
        kind="table",
        title=_shown(len(records), total, "record", path.name),
        columns=columns,
        rows=cells,
        note="; ".join(notes),
    )


# --- arrays, text, images -------------------------------------------------------------
def _preview_npy(path: Path, rows: int) -> Preview:
    """Shape and dtype from the header; the first rows (and columns) through a memory
    map, so only those are read from disk."""
    import numpy as np

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "object" not in str(err).lower() and "pickle" not in str(err).lower():
            raise
        return _none(
            path,
            f"{path.name} holds pickled Python objects, which a preview "
            f"does not load (it could run code); only plain arrays are shown",
        )
    described = f"shape {tuple(array.shape)}, dtype {array.dtype}"
    if array.ndim == 0:
        return Preview(
            kind="array",
            title=f"the single value of {path.name} ({described})",
            columns=[("value", str(array.dtype))],
            rows=[[_cell(array.item())]],
        )
    head = array[:rows]  # still a memory map: nothing read yet
    title = f"{_shown(len(head), array.shape[0], 'row', path.name)}, {described}"
    if array.dtype.names:
        names = list(array.dtype.names)[:MAX_COLUMNS]
        columns = [(n, str(array.dtype[n])) for n in names]
        cells = [[_cell(row[n].tolist()) for n in names] for row in np.asarray(head)]
        return Preview(
            kind="array",
            title=title,
            columns=columns,
            rows=cells,
            note=_columns_note(len(array.dtype.names)),
        )
    if array.ndim == 1:
        return Preview(
            kind="array",
            title=title,
            columns=[("value", str(array.dtype))],
            rows=[[_cell(v)] for v in np.asarray(head).tolist()],
        )
    if array.ndim == 2:
        width = array.shape[1]
        columns = [(str(i), str(array.dtype)) for i in range(min(width, MAX_COLUMNS))]
        cells = [[_cell(v) for v in row] for row in np.asarray(head[:, :MAX_COLUMNS]).tolist()]
        return Preview(
            kind="array", title=title, columns=columns, rows=cells, note=_columns_note(width)
        )
    inner = f"{array.dtype}{list(array.shape[1:])}"  # each row summarised from its edges
    cells = [
        [_cell(np.array2string(row, threshold=20, edgeitems=2).replace("\n", ""))] for row in head
    ]
    return Preview(kind="array", title=title, columns=[("row", inner)], rows=cells)


def _read_text(path: Path, limit: int) -> tuple[str, bool, int]:
    """(the first ``limit`` bytes as text, whether that was all, the file's size); an
    incomplete character at the cut is dropped, undecodable bytes become U+FFFD."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    complete = len(data) <= limit
    data = data[:limit]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data, final=complete), complete, path.stat().st_size


def _preview_text(path: Path, text_bytes: int) -> Preview:
    text, complete, size = _read_text(path, text_bytes)
    if complete:
        return Preview(kind="text", title=f"all {_count(size, 'byte')} of {path.name}", text=text)
    return Preview(
        kind="text",
        title=f"first {text_bytes:,} of {_count(size, 'byte')} of {path.name}",
        text=text,
        note=f"the rest of the file ({size - text_bytes:,} bytes) is not shown",
    )


def _looks_like_text(path: Path) -> bool:
    """Whether the first SNIFF bytes look like text: no NUL byte and under 1% control
    bytes (text in another encoding than UTF-8 still counts; it is shown with U+FFFD)."""
    with open(path, "rb") as f:
        data = f.read(SNIFF)
    if b"\0" in data:
        return False
    control = sum(1 for byte in data if byte < 32 and byte not in b"\t\n\r\f\b\x1b")
    return control * 100 < max(len(data), 1)


def _wav_note(path: Path) -> str:
    """What a WAV file holds, from its header only."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            seconds = w.getnframes() / w.getframerate()
            return (
                f"audio is not previewed: WAV, {_count(w.getnchannels(), 'channel')}, "
                f"{w.getframerate():,} Hz, {8 * w.getsampwidth()}-bit, {seconds:.1f} s"
            )
    except (wave.Error, EOFError, ZeroDivisionError) as err:
        return f"audio is not previewed, and {path.name} is not a readable WAV file ({err})"


def _thumbnail(path: Path, size: int) -> bytes:
    """A PNG thumbnail at most ``size`` pixels wide and high."""
    from PIL import Image

    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
        image.thumbnail((size, size))
        if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, format="PNG")
    return out.getvalue()


def preview_images(paths: list[Path], size: int = 96, limit: int = 12) -> Preview:
    """Thumbnails (PNG, at most ``size`` pixels) of the first ``limit`` of ``paths``;
    images that cannot be read are named in the note."""
    paths = [Path(p) for p in paths]
    thumbnails, problems = [], []
    for path in paths[:limit]:
        try:
            thumbnails.append((path.name, _thumbnail(path, size)))
        except Exception as err:  # Pillow raises many kinds for a bad image
            problems.append(f"{path.name} cannot be read: {_reason(err)}")
    shown = len(thumbnails)
    if len(paths) == 1:
        title = f"thumbnail of {paths[0].name}" if shown else f"no preview of {paths[0].name}"
    elif paths:
        title = (
            f"all {_count(len(paths), 'image')}"
            if len(paths) <= limit
            else f"first {limit:,} of {_count(len(paths), 'image')}"
        )
    else:
        title = "no images"
    note = "; ".join(problems[:5]) if problems else ("" if paths else "no image files given")
    if len(problems) > 5:
        note += f"; and {len(problems) - 5} more"
    if not shown:
        return Preview(kind="none", title=title, note=note)
    return Preview(kind="images", title=title, images=thumbnails, note=note)


# --- the entry point ------------------------------------------------------------------
def _reason(err: BaseException) -> str:
    if isinstance(err, PermissionError):
        return "permission denied (your projects' groups cannot read it)"
    if isinstance(err, FileNotFoundError):
        return "it does not exist"
    text = str(err).strip() or type(err).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def preview_file(path: Path, rows: int = 20, text_bytes: int = 4096) -> Preview:
    """A preview of one file, chosen by its extension, reading only what it shows:
    at most ``rows`` rows of a table or array, ``text_bytes`` bytes of text."""
    path = Path(path)
    suffix = path.suffix.lower()
    rows = max(0, rows)
    try:
        if path.is_dir():
            return _none(
                path, f"{path.name or path} is a folder; previews are of files: {SUPPORTED}"
            )
        if suffix in TABLES:
            return {"csv": _preview_csv, "parquet": _preview_parquet, "jsonl": _preview_jsonl}[
                TABLES[suffix]
            ](path, rows)
        if suffix == ".npy":
            return _preview_npy(path, rows)
        if suffix in IMAGES:
            return preview_images([path])
        if suffix == ".wav":
            return _none(path, _wav_note(path))
        if suffix in TEXTS or _looks_like_text(path):
            return _preview_text(path, text_bytes)
        return _none(
            path,
            f"{path.name} is a binary file ({suffix or 'no extension'}) "
            f"with no preview; previews exist for {SUPPORTED}",
        )
    except Exception as err:  # a preview never fails: the note says why nothing is shown
        return _none(path, f"{path.name} cannot be read: {_reason(err)}")


# --- HTML (the template preview.html) ------------------------------------------------
def to_html(preview: Preview) -> str:
    """``preview`` as an HTML fragment: a title, then a table with a header row of names
    and types, a text block or a grid of thumbnails (data: URIs), then the note.
    Every name, type, cell and text is escaped."""
    table = preview.kind in ("table", "array") and preview.columns
    images = (
        [
            (name, "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
            for name, data in preview.images
        ]
        if preview.kind == "images"
        else None
    )
    return render(
        "preview.html",
        title=preview.title,
        columns=preview.columns[:MAX_COLUMNS] if table else [],
        rows=preview.rows,
        text=preview.text if preview.kind == "text" else None,
        images=images,
        note=preview.note,
    )
