"""Dataset previews read only what they show, never fail with a traceback and escape
everything in HTML; "use it" snippets compile for every library and format; the demo
catalog's files are written once and left alone when they are already right."""

import io
import json
import subprocess
import sys
import tomllib

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from pyarrow import csv, parquet

from aiworkbench.catalog import demo, preview
from aiworkbench.catalog.datacard import FORMATS as CARD_FORMATS
from aiworkbench.catalog.datacard import MODALITIES, parse_datacard
from aiworkbench.catalog.preview import Preview, preview_file, preview_images, to_html
from aiworkbench.catalog.snippets import FORMATS, LIBRARIES, snippet


# --- tables ---------------------------------------------------------------------------
def test_a_small_csv_shows_its_first_rows_schema_and_total(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("length,species\n" + "".join(f"{i}.5,setosa\n" for i in range(150)))
    shown = preview_file(path, rows=20)
    assert shown.kind == "table"
    assert shown.title == "first 20 of 150 rows of iris.csv"
    assert shown.columns == [("length", "double"), ("species", "string")]
    assert shown.rows[0] == ["0.5", "setosa"] and len(shown.rows) == 20


def test_a_csv_preview_parses_only_the_first_block(tmp_path):
    path = tmp_path / "big.csv"
    head = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(30000))  # > 64 KiB
    path.write_text(head + "1,2,3,4,5\nnot,numbers\n" + "\x00garbage" * 10000)
    with pytest.raises(pa.ArrowInvalid):
        csv.read_csv(path)  # the whole file cannot be read...
    shown = preview_file(path, rows=5)  # ... its preview can
    assert shown.kind == "table" and shown.rows[4] == ["4", "8"]
    assert "total is not known" in shown.title


def test_a_csv_row_longer_than_the_first_block_still_previews(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id,text\n" + "".join(f"{i},{'w' * 100_000}\n" for i in range(3)))
    shown = preview_file(path, rows=2)
    assert shown.kind == "table" and len(shown.rows) == 2
    assert shown.rows[0][1] == "w" * 79 + "…"  # long cells are cut


def test_parquet_counts_rows_from_the_footer_and_reads_only_the_first_row_group(tmp_path):
    path = tmp_path / "wine.parquet"
    table = pa.table(
        {
            "alcohol": [float(i) for i in range(1000)],
            "cultivar": [f"class_{i % 3}" for i in range(1000)],
        }
    )
    parquet.write_table(table, path, row_group_size=100, compression="none", use_dictionary=False)
    # Spoil every row group but the first: a reader that touches them fails.
    meta = parquet.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    for group in range(1, meta.num_row_groups):
        for c in range(meta.num_columns):
            column = meta.row_group(group).column(c)
            start = column.data_page_offset
            data[start : start + column.total_compressed_size] = (
                b"\xff" * column.total_compressed_size
            )
    path.write_bytes(bytes(data))
    with pytest.raises(OSError):
        parquet.read_table(path)
    shown = preview_file(path, rows=20)
    assert shown.kind == "table", shown.note
    assert shown.title == "first 20 of 1,000 rows of wine.parquet"
    assert shown.columns == [("alcohol", "double"), ("cultivar", "string")]
    assert shown.rows[19] == ["19.0", "class_1"]


def test_parquet_row_groups_smaller_than_the_preview_are_joined(tmp_path):
    path = tmp_path / "streamed.parquet"
    parquet.write_table(pa.table({"i": list(range(50))}), path, row_group_size=3)
    shown = preview_file(path, rows=10)
    assert [row[0] for row in shown.rows] == [str(i) for i in range(10)]
    assert shown.title == "first 10 of 50 rows of streamed.parquet"


def test_parquet_with_nested_and_many_columns(tmp_path):
    path = tmp_path / "wide.parquet"
    columns = {f"c{i}": [i, None] for i in range(60)}
    columns["nested"] = [{"a": [1, 2]}, None]
    parquet.write_table(pa.table(columns), path)
    shown = preview_file(path)
    assert shown.title == "all 2 rows of wide.parquet"
    assert len(shown.columns) == 61 and shown.columns[-1][0] == "nested"
    assert len(shown.rows[0]) == 50 and shown.rows[1][1] == "null"
    assert "first 50 of 61 columns" in shown.note


def test_json_lines_show_records_with_their_types_and_bad_lines(tmp_path):
    path = tmp_path / "topics.jsonl"
    path.write_text(
        '{"topic": "if", "text": "<b>if</b>"}\n\n{"topic": "with", "n": 2}\nnot json\n[1, 2]\n'
    )
    shown = preview_file(path)
    assert shown.kind == "table"
    assert shown.columns == [
        ("topic", "string"),
        ("text", "string"),
        ("n", "int"),
        ("value", "list"),
    ]
    assert shown.rows == [
        ["if", "<b>if</b>", "", ""],
        ["with", "", "2", ""],
        ["", "", "", "[1, 2]"],
    ]
    assert "line 4 is not valid JSON" in shown.note
    few = preview_file(path, rows=1)
    assert few.title.startswith("first 1 record of topics.jsonl (the total is not known")


def test_json_lines_read_to_the_end_give_the_total(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(3)))
    assert preview_file(path, rows=3).title == "all 3 records of t.jsonl"


# --- arrays, text, images -------------------------------------------------------------
def test_npy_arrays_show_shape_dtype_and_first_rows(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(60, dtype=np.float32).reshape(20, 3))
    np.save(tmp_path / "y.npy", np.arange(5))
    np.save(tmp_path / "cube.npy", np.zeros((4, 8, 8), dtype=np.uint8))
    two = preview_file(tmp_path / "x.npy", rows=2)
    assert two.kind == "array"
    assert two.title == "first 2 of 20 rows of x.npy, shape (20, 3), dtype float32"
    assert two.columns == [("0", "float32"), ("1", "float32"), ("2", "float32")]
    assert two.rows == [["0.0", "1.0", "2.0"], ["3.0", "4.0", "5.0"]]
    assert preview_file(tmp_path / "y.npy").rows == [[str(i)] for i in range(5)]
    cube = preview_file(tmp_path / "cube.npy")
    assert cube.columns == [("row", "uint8[8, 8]")] and len(cube.rows) == 4
    assert "\n" not in cube.rows[0][0]


def test_pickled_npy_is_not_loaded(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    shown = preview_file(tmp_path / "objects.npy")
    assert shown.kind == "none" and "pickled Python objects" in shown.note


def test_text_shows_the_first_bytes_without_splitting_a_character(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("é" * 3000, encoding="utf-8")  # 6000 bytes
    shown = preview_file(path, text_bytes=4095)  # the cut falls inside an "é"
    assert shown.kind == "text" and shown.text == "é" * 2047
    assert shown.title == "first 4,095 of 6,000 bytes of notes.txt"
    assert "1,905 bytes" in shown.note
    small = tmp_path / "README"  # no extension: sniffed as text
    small.write_bytes(b"caf\xe9 ok\n")
    assert preview_file(small).kind == "text"


def test_images_become_small_png_thumbnails(tmp_path):
    Image.new("RGB", (300, 200), "red").save(tmp_path / "big.jpg")
    Image.new("P", (50, 50)).save(tmp_path / "small.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    one = preview_file(tmp_path / "big.jpg")
    assert one.kind == "images" and one.title == "thumbnail of big.jpg"
    with Image.open(io.BytesIO(one.images[0][1])) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) <= 96
    files = [tmp_path / "big.jpg", tmp_path / "broken.png", tmp_path / "small.png"]
    grid = preview_images(files, size=32, limit=2)
    assert grid.title == "first 2 of 3 images"
    assert [name for name, _ in grid.images] == ["big.jpg"]
    assert "broken.png cannot be read" in grid.note
    broken = preview_file(tmp_path / "broken.png")
    assert broken.kind == "none" and "broken.png cannot be read" in broken.note


# --- what cannot be previewed ---------------------------------------------------------
def test_binary_corrupt_missing_and_folders_give_a_note(tmp_path):
    (tmp_path / "model.bin").write_bytes(bytes(range(256)))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "empty.csv").write_bytes(b"")
    for name, reason in (
        ("model.bin", "binary file (.bin) with no preview; previews exist for csv, parquet"),
        ("bad.parquet", "bad.parquet cannot be read: "),
        ("empty.csv", "empty.csv is empty"),
        ("gone.csv", "gone.csv cannot be read: it does not exist"),
        (".", "is a folder; previews are of files: csv"),
    ):
        shown = preview_file(tmp_path / name)
        assert shown.kind == "none" and reason in shown.note, shown.note


def test_a_file_the_user_may_not_read_gives_a_note(tmp_path, monkeypatch):
    path = tmp_path / "secret.txt"
    path.write_text("patients")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preview, "open", refuse, raising=False)
    shown = preview_file(path)
    assert shown.kind == "none"
    assert "secret.txt cannot be read: permission denied" in shown.note


# --- HTML -----------------------------------------------------------------------------
def test_html_escapes_names_types_cells_text_and_image_names(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('<script>,b\n"<img src=x onerror=alert(1)>",&amp;\n')
    page = to_html(preview_file(path))
    assert "<script>" not in page and "<img src=x" not in page
    assert "<th>&lt;script&gt;<br><small>string</small></th>" in page
    assert "&amp;amp;" in page
    text = to_html(Preview(kind="text", title="<t>", text="</pre><b>", note="<n>"))
    assert "&lt;/pre&gt;&lt;b&gt;" in text and "&lt;t&gt;" in text and "&lt;n&gt;" in text
    png = io.BytesIO()
    Image.new("L", (4, 4)).save(png, format="PNG")
    grid = to_html(Preview(kind="images", title="t", images=[('a"b<.png', png.getvalue())]))
    assert 'alt="a&quot;b&lt;.png"' in grid and 'src="data:image/png;base64,iVBOR' in grid


# --- snippets -------------------------------------------------------------------------
DETAIL = {
    "name": "it's-data",
    "title": "t",
    "path": '/srv/aiworkbench/datasets/it\'s "x"',
    "modality": "tabular",
    "format": "csv",
}


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("modality", ["tabular", "text", "image"])
def test_every_snippet_compiles_and_embeds_the_path(library, fmt, modality):
    code = snippet({**DETAIL, "format": fmt, "modality": modality}, library)
    compile(code, f"<{library}-{fmt}>", "exec")
    assert repr(DETAIL["path"]) in code
    assert "datacard" not in code and "**/*" in code


def test_hugging_face_snippets_go_offline_before_importing_datasets():
    for fmt in FORMATS:
        code = snippet({**DETAIL, "format": fmt}, "datasets")
        assert code.index('os.environ["HF_DATASETS_OFFLINE"] = "1"') < code.index(
            "from datasets import"
        )
    assert "load_dataset('imagefolder'" in snippet({**DETAIL, "format": "png"}, "datasets")


def test_unknown_libraries_and_formats_are_refused_with_what_is_allowed():
    with pytest.raises(
        ValueError,
        match="no snippets for library 'polars'; libraries: pandas, torch, datasets, dask",
    ):
        snippet(DETAIL, "polars")
    with pytest.raises(
        ValueError,
        match="no snippets for format 'wav'.*formats: csv, parquet, jsonl, txt, png, jpeg, npy",
    ):
        snippet({**DETAIL, "format": "wav"}, "pandas")
    with pytest.raises(ValueError, match="must be an absolute folder"):
        snippet({**DETAIL, "path": "relative/x"}, "pandas")


def test_snippet_formats_are_datacard_formats():
    assert set(FORMATS) <= set(CARD_FORMATS)


# --- the demo catalog (the parts that need no scikit-learn) ---------------------------
def test_demo_files_are_written_once_and_left_alone_when_right(tmp_path):
    path = tmp_path / "d" / "f.bin"
    assert demo._write(path, b"one") is True
    stamp = path.stat().st_mtime_ns
    assert demo._write(path, b"one") is False and path.stat().st_mtime_ns == stamp
    assert demo._write(path, b"two") is True and path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]  # no temporary left


def test_demo_text_dataset_and_its_datacard(tmp_path):
    fields = demo._python_help(tmp_path)
    card = demo._datacard("python-help-topics", "public", owner=demo.OWNER, **fields)
    parsed = parse_datacard(card.decode(), "python-help-topics")
    assert parsed.licence == "PSF-2.0" and parsed.modality in MODALITIES
    first = json.loads((tmp_path / "topics.jsonl").read_text().splitlines()[0])
    assert set(first) == {"topic", "text"}
    assert tomllib.loads(card.decode())["format"] == "jsonl"
    with pytest.raises(ValueError, match="restricted_to: project name '.*': use 1-32"):
        demo.build_demo(tmp_path, restricted_to="../etc")


def test_importing_the_catalog_modules_loads_no_heavy_library():
    code = (
        "import sys, aiworkbench; before = set(sys.modules)\n"
        "import aiworkbench.catalog.preview, aiworkbench.catalog.snippets, "
        "aiworkbench.catalog.demo\n"
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] in ('numpy', 'pyarrow', 'PIL', 'pandas', 'sklearn')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
