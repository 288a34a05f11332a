"""The demo catalog: five small real datasets, built offline from installed packages.

    python -m aiworkbench.catalog.demo ROOT [--restricted-to sme-vision]

``iris``, ``wine``, ``breast-cancer-wisconsin`` and ``digits`` come from the
copies bundled with scikit-learn (UCI Machine Learning Repository, CC BY 4.0);
``python-help-topics`` from the standard library's ``pydoc_data.topics``
(the Python documentation, PSF License). Datacards give the real licence and
citation. ``breast-cancer-wisconsin`` is restricted to one project, to show
restricted datasets; who may read its files is for the filesystem's groups
to enforce (``aiworkbench-catalog index --set-permissions``, :mod:`.access`):
its folder is created readable by its owner only until then.

Every file is written to a temporary name and renamed into place, the
datacard last, so a half-built dataset never looks complete. A file whose
content is already right is left alone: building twice changes nothing (not
even modification times, so the index sees no update). scikit-learn is in the
kernel environment only and is imported when a dataset needs it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

from aiworkbench.catalog.datacard import CARD, parse_datacard
from aiworkbench.core import names

OWNER = "factory-ops"
UCI_LICENCE = "CC-BY-4.0"


def _write(path: Path, data: bytes) -> bool:
    """Put ``data`` at ``path`` through a temporary file and a rename; False (and
    nothing written) when the file already holds exactly ``data``."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as f:  # mode 0666 less the umask, like any file
            f.write(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _toml(value) -> str:
    """A TOML value: a basic string (JSON's escapes are TOML's) or a list of them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"


def _datacard(name: str, access, **fields) -> bytes:
    """The datacard's text, checked by the same parser the index uses."""
    lines = [f"name = {_toml(name)}"]
    for key in ("title", "description", "owner", "licence", "citation", "modality", "format"):
        lines.append(f"{key} = {_toml(fields[key])}")
    lines.append(f"access = {_toml(access)}")
    lines.append(f"tags = {_toml(fields.get('tags', []))}")
    text = "\n".join(lines) + "\n"
    parse_datacard(text, name)  # a DatacardError here is a bug in this module
    return text.encode("utf-8")


def _column(name: str) -> str:
    """scikit-learn's feature name as a column name: "mean radius" -> "mean_radius"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("(cm)", "cm")).strip("_")


def _parquet(columns: dict) -> bytes:
    """A Parquet file of ``columns`` (name -> list of values), as bytes."""
    import pyarrow as pa
    from pyarrow import parquet

    out = io.BytesIO()
    parquet.write_table(pa.table(columns), out, compression="zstd")
    return out.getvalue()


def _bunch_columns(bunch) -> dict:
    return {_column(str(n)): bunch.data[:, i].tolist() for i, n in enumerate(bunch.feature_names)}


# --- the datasets ---------------------------------------------------------------------
def _iris(folder: Path) -> dict:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_column(n) for n in bunch.feature_names] + ["species"])
    for features, target in zip(bunch.data.tolist(), bunch.target.tolist()):
        writer.writerow([repr(v) for v in features] + [bunch.target_names[target]])
    _write(folder / "iris.csv", out.getvalue().encode("utf-8"))
    return dict(
        title="Iris flowers (Fisher, 1936)",
        description="150 iris flowers of three species (setosa, versicolor, virginica), "
        "50 each, with sepal and petal length and width in centimetres. One "
        "CSV file, iris.csv: four measurement columns and the species. The "
        "values are those of Fisher's paper as bundled with scikit-learn (the "
        "UCI copy differs in two values).",
        licence=UCI_LICENCE,
        citation="Fisher, R. A. (1936). The use of multiple measurements in taxonomic "
        "problems. Annals of Eugenics, 7(2), 179-188. Distributed as: Fisher, "
        "R. A. (1988). Iris [Dataset]. UCI Machine Learning Repository. "
        "https://doi.org/10.24432/C56C76",
        modality="tabular",
        format="csv",
        tags=["classification", "botany", "uci", "small", "teaching"],
    )


def _wine(folder: Path) -> dict:
    from sklearn.datasets import load_wine

    bunch = load_wine()
    columns = _bunch_columns(bunch)
    columns["target"] = bunch.target.tolist()
    columns["cultivar"] = [str(bunch.target_names[t]) for t in bunch.target]
    _write(folder / "wine.parquet", _parquet(columns))
    return dict(
        title="Wine recognition",
        description="Chemical analysis of 178 wines grown in the same region of Italy "
        "from three cultivars: 13 measured constituents (alcohol, malic acid, "
        "flavanoids, colour intensity, proline, ...). One Parquet file, "
        "wine.parquet: the 13 measurements, target (0, 1, 2) and cultivar "
        "(class_0, class_1, class_2).",
        licence=UCI_LICENCE,
        citation="Aeberhard, S. & Forina, M. (1991). Wine [Dataset]. UCI Machine "
        "Learning Repository. https://doi.org/10.24432/C5PC7J",
        modality="tabular",
        format="parquet",
        tags=["classification", "chemistry", "food", "uci", "small"],
    )


def _breast_cancer(folder: Path) -> dict:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    columns = _bunch_columns(bunch)
    columns["target"] = bunch.target.tolist()
    columns["diagnosis"] = [str(bunch.target_names[t]) for t in bunch.target]
    _write(folder / "breast-cancer-wisconsin.parquet", _parquet(columns))
    return dict(
        title="Breast Cancer Wisconsin (Diagnostic)",
        description="569 fine-needle aspirates of breast masses: 30 features of the cell "
        "nuclei computed from digitised images (mean, standard error and worst "
        "of radius, texture, perimeter, area, smoothness, ...), and the "
        "diagnosis (212 malignant, 357 benign). One Parquet file: the 30 "
        "features, target (0 malignant, 1 benign) and diagnosis. Public data, "
        "restricted in this demo to show how restricted datasets look.",
        licence=UCI_LICENCE,
        citation="Wolberg, W., Mangasarian, O., Street, N. & Street, W. (1995). Breast "
        "Cancer Wisconsin (Diagnostic) [Dataset]. UCI Machine Learning "
        "Repository. https://doi.org/10.24432/C5DW2B",
        modality="tabular",
        format="parquet",
        tags=["classification", "medical", "uci", "restricted-demo"],
    )


def _digits(folder: Path) -> dict:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for index, (image, label) in enumerate(zip(bunch.images, bunch.target.tolist())):
        grey = np.round(image * (255 / 16)).astype(np.uint8)  # 0..16 counts -> 0..255
        picture = Image.fromarray(grey).resize((32, 32), Image.Resampling.NEAREST)
        out = io.BytesIO()
        picture.save(out, format="PNG")
        _write(folder / "images" / str(label) / f"{index:04d}.png", out.getvalue())
    return dict(
        title="Handwritten digits (8x8, UCI optical recognition)",
        description="1797 handwritten digits 0-9 from 13 writers (the test set of the UCI "
        "optical recognition data, as bundled with scikit-learn). Each is an "
        "8x8 grid of counts 0-16 of ink pixels in 4x4 blocks, stored here as a "
        "grey PNG scaled to 0-255 and upscaled to 32x32 pixels (nearest "
        "neighbour, no new detail). Layout images/<digit>/<index>.png: the "
        "folder name is the label.",
        licence=UCI_LICENCE,
        citation="Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten "
        "Digits [Dataset]. UCI Machine Learning Repository. "
        "https://doi.org/10.24432/C50P49",
        modality="image",
        format="png",
        tags=["classification", "handwriting", "ocr", "uci", "teaching"],
    )


def _python_help(folder: Path) -> dict:
    from pydoc_data.topics import topics

    lines = [
        json.dumps({"topic": topic, "text": topics[topic]}, ensure_ascii=False)
        for topic in sorted(topics)
    ]
    _write(folder / "topics.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return dict(
        title=f"Python {version} help topics",
        description=f"The {len(topics)} texts that help('TOPIC') shows for Python "
        f"{version}'s statements, operators and other language topics "
        f"(for example 'if', 'with', 'FORMATTING'), taken from the standard "
        f"library's pydoc_data.topics, which is generated from the Python "
        f"documentation. One JSON-lines file, topics.jsonl: one "
        f'{{"topic", "text"}} object per line.',
        licence="PSF-2.0",
        citation=f"Python Software Foundation. Python {version} documentation: the "
        f"help topics of pydoc_data.topics. https://docs.python.org/{version}/",
        modality="text",
        format="jsonl",
        tags=["documentation", "python", "nlp", "small"],
    )


DATASETS = {
    "iris": _iris,
    "wine": _wine,
    "breast-cancer-wisconsin": _breast_cancer,
    "digits": _digits,
    "python-help-topics": _python_help,
}
RESTRICTED = ("breast-cancer-wisconsin",)


def build_demo(root: Path, restricted_to: str = "sme-vision") -> list[str]:
    """Write the demo datasets under ``root``; their names. ``restricted_to`` is the
    project that alone may read the restricted one. Safe to run again: files that
    are already right are not touched."""
    why = names.PROJECT.problem(restricted_to)
    if why:
        raise ValueError(f"restricted_to: {why}")
    root = Path(root)
    written = []
    root.mkdir(parents=True, exist_ok=True)
    for name, build in DATASETS.items():
        folder = root / name
        restricted = name in RESTRICTED
        # A new restricted folder starts closed to others, until the index's
        # --set-permissions gives it its project's group (see .access).
        folder.mkdir(mode=0o700 if restricted else 0o777, exist_ok=True)
        fields = {"owner": OWNER, **build(folder)}
        access = [restricted_to] if restricted else "public"
        _write(folder / CARD, _datacard(name, access, **fields))
        written.append(name)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.catalog.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("root", help="the catalog root, e.g. /srv/aiworkbench/datasets")
    parser.add_argument(
        "--restricted-to",
        default="sme-vision",
        help="the project that may read breast-cancer-wisconsin",
    )
    args = parser.parse_args(argv)
    try:
        built = build_demo(Path(args.root), args.restricted_to)
    except ValueError as err:
        parser.error(str(err))
    print(len(built), "demo datasets in", args.root + ":", ", ".join(built))


if __name__ == "__main__":
    main()
