""" "Use it" code: a short, complete snippet that loads a dataset with a library.

``snippet(dataset, library)`` takes the workbench API's detail of a dataset
(its ``path``, ``format``, ``modality`` and ``name``) and returns code that runs
as is in a fresh kernel: imports, the dataset's folder (embedded with
``repr``), the files found by a recursive glob under it, loading, and a last
line that shows something (the first rows, a batch's shapes). The glob is by
extension, so the folder's ``datacard.toml`` is never among the files.

Images follow the "image folder" layout of Hugging Face ``imagefolder``: an
image's label is the name of the folder it is in. The Hugging Face snippets set
``HF_DATASETS_OFFLINE`` before importing ``datasets``: the catalog is local and
a compute node may not reach the Hub.
"""

from __future__ import annotations

from string import Template

LIBRARIES = {
    "pandas": "pandas",
    "torch": "torch Dataset / DataLoader",
    "datasets": "Hugging Face datasets",
    "dask": "dask",
}
FORMATS = ("csv", "parquet", "jsonl", "txt", "png", "jpeg", "npy")
GLOBS = {
    "csv": 'sorted(root.glob("**/*.csv"))',
    "parquet": 'sorted(root.glob("**/*.parquet"))',
    "jsonl": 'sorted(root.glob("**/*.jsonl"))',
    "txt": 'sorted(root.glob("**/*.txt"))',
    "png": 'sorted(root.glob("**/*.png"))',
    "jpeg": 'sorted(f for f in root.glob("**/*") if f.suffix.lower() in (".jpg", ".jpeg"))',
    "npy": 'sorted(root.glob("**/*.npy"))',
}
PANDAS_READ = {
    "csv": "pd.read_csv(f)",
    "parquet": "pd.read_parquet(f)",
    "jsonl": "pd.read_json(f, lines=True)",
}
HF_BUILDER = {
    "csv": "csv",
    "parquet": "parquet",
    "jsonl": "json",
    "txt": "text",
    "png": "imagefolder",
    "jpeg": "imagefolder",
}

HEAD = "root = Path($root)\nfiles = $files\n"

TEMPLATES = {
    ("pandas", "table"): """\
from pathlib import Path

import pandas as pd

$head
df = pd.concat([$read for f in files], ignore_index=True)
df.head()
""",
    ("pandas", "lines"): """\
from pathlib import Path

import pandas as pd

$head
df = pd.DataFrame(
    [(f.relative_to(root).as_posix(), line)
     for f in files for line in f.read_text(encoding="utf-8").splitlines()],
    columns=["file", "text"])
df.head()
""",
    ("pandas", "images"): """\
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

$head
# One row per image; the label is the name of the folder it is in.
df = pd.DataFrame({"path": [str(f) for f in files], "label": [f.parent.name for f in files]})
first = np.asarray(Image.open(df.path[0]))
print(len(df), "images; the first is", first.shape, first.dtype)
df.label.value_counts()
""",
    ("pandas", "arrays"): """\
from pathlib import Path

import numpy as np
import pandas as pd

$head
arrays = {f.relative_to(root).as_posix(): np.load(f, mmap_mode="r") for f in files}
for name, array in arrays.items():
    print(name, array.shape, array.dtype)
first = np.asarray(next(iter(arrays.values())))
df = pd.DataFrame(first.reshape(len(first), -1))  # one row per entry of the first axis
df.head()
""",
    ("torch", "table"): """\
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

$head
table = pd.concat([$read for f in files], ignore_index=True)


class TableDataset(Dataset):
    \"\"\"The table's rows: its numeric columns as one float tensor per row.\"\"\"

    def __init__(self, table):
        numeric = table.select_dtypes("number")
        self.columns = list(numeric.columns)
        self.rows = torch.tensor(numeric.to_numpy(dtype="float32", na_value=float("nan")))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


data = TableDataset(table)
loader = DataLoader(data, batch_size=32, shuffle=True)
batch = next(iter(loader))
print(data.columns)
batch.shape
""",
    ("torch", "records"): """\
import json
from pathlib import Path

from torch.utils.data import DataLoader, Dataset

$head
records = [json.loads(line) for f in files
           for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


class RecordDataset(Dataset):
    \"\"\"The JSON records, one per line of the files.\"\"\"

    def __init__(self, records):
        self.records = records

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]


def keep_lists(batch):
    \"\"\"A batch of records as {field: [values]} (texts stay strings, not tensors).\"\"\"
    return {key: [record.get(key) for record in batch] for key in batch[0]}


loader = DataLoader(RecordDataset(records), batch_size=8, shuffle=True,
                    collate_fn=keep_lists)
batch = next(iter(loader))
{key: values[:2] for key, values in batch.items()}
""",
    ("torch", "lines"): """\
from pathlib import Path

from torch.utils.data import DataLoader, Dataset

$head
lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()
         if line.strip()]


class LineDataset(Dataset):
    \"\"\"The non-blank lines of the text files.\"\"\"

    def __init__(self, lines):
        self.lines = lines

    def __len__(self):
        return len(self.lines)

    def __getitem__(self, i):
        return self.lines[i]


loader = DataLoader(LineDataset(lines), batch_size=8, shuffle=True,
                    collate_fn=list)  # a batch is a list of strings
batch = next(iter(loader))
batch[:3]
""",
    ("torch", "images"): """\
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

$head
classes = sorted({f.parent.name for f in files})  # the label is the image's folder


class ImageFolderDataset(Dataset):
    \"\"\"(image as a float tensor 3 x H x W in [0, 1], label index); every image is
    resized to ``size`` so that a batch stacks.\"\"\"

    def __init__(self, files, classes, size=(64, 64)):
        self.files, self.size = files, size
        self.label = {name: i for i, name in enumerate(classes)}

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        image = Image.open(self.files[i]).convert("RGB").resize(self.size)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
        return pixels.permute(2, 0, 1), self.label[self.files[i].parent.name]


loader = DataLoader(ImageFolderDataset(files, classes), batch_size=32, shuffle=True)
images, labels = next(iter(loader))
images.shape, labels[:8], classes
""",
    ("torch", "arrays"): """\
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

$head
arrays = {f.relative_to(root).as_posix(): np.load(f, mmap_mode="r") for f in files}
print({name: (array.shape, str(array.dtype)) for name, array in arrays.items()})


class ArrayDataset(Dataset):
    \"\"\"The entries along the first axis of an array, as float tensors (read from
    disk when they are asked for).\"\"\"

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return len(self.array)

    def __getitem__(self, i):
        return torch.from_numpy(np.array(self.array[i], dtype=np.float32))


loader = DataLoader(ArrayDataset(next(iter(arrays.values()))), batch_size=32)
batch = next(iter(loader))
batch.shape
""",
    ("datasets", "builder"): """\
import os
from pathlib import Path

os.environ["HF_DATASETS_OFFLINE"] = "1"  # before importing datasets: never ask the Hub
from datasets import load_dataset

$head
ds = load_dataset($builder, data_files=[str(f) for f in files], split="train",
                  cache_dir=str(Path.home() / ".cache" / "huggingface" / "datasets"))
print(ds)
ds[0]
""",
    ("datasets", "arrays"): """\
import os
from pathlib import Path

import numpy as np

os.environ["HF_DATASETS_OFFLINE"] = "1"  # before importing datasets: never ask the Hub
from datasets import Dataset

$head
array = np.load(files[0])  # one column "array": the entries along its first axis
ds = Dataset.from_dict({"array": array}).with_format("numpy")
print(files[0].name, ds)
ds[:2]["array"].shape
""",
    ("dask", "csv"): """\
from pathlib import Path

import dask.dataframe as dd

$head
df = dd.read_csv([str(f) for f in files])
df.head()
""",
    ("dask", "parquet"): """\
from pathlib import Path

import dask.dataframe as dd

$head
df = dd.read_parquet([str(f) for f in files])
df.head()
""",
    ("dask", "jsonl"): """\
import json
from pathlib import Path

import dask.bag as db

$head
records = db.read_text([str(f) for f in files]).filter(str.strip).map(json.loads)
df = records.to_dataframe()
df.head()
""",
    ("dask", "records"): """\
import json
from pathlib import Path

import dask.bag as db

$head
records = db.read_text([str(f) for f in files]).filter(str.strip).map(json.loads)
records.take(2, warn=False)  # from the first file
""",
    ("dask", "lines"): """\
from pathlib import Path

import dask.bag as db

$head
lines = db.read_text([str(f) for f in files]).map(str.rstrip).filter(bool)
print(lines.count().compute(), "lines")
lines.take(3, warn=False)  # from the first file
""",
    ("dask", "images"): """\
from pathlib import Path

import dask.bag as db
import numpy as np
from PIL import Image

$head

def load(path):
    \"\"\"(pixels, label): the label is the name of the image's folder.\"\"\"
    return np.asarray(Image.open(path)), path.parent.name


images = db.from_sequence(files, partition_size=256).map(load)
[(pixels.shape, label) for pixels, label in images.take(4, warn=False)]
""",
    ("dask", "arrays"): """\
from pathlib import Path

import dask.array as da
import numpy as np

$head
arrays = {f.relative_to(root).as_posix(): da.from_array(np.load(f, mmap_mode="r"))
          for f in files}
first = next(iter(arrays.values()))
print(first)
first[:5].compute()
""",
}


def _kind(library: str, fmt: str, modality: str) -> str:
    """Which template: tables by format, JSON lines of text as records, images, …"""
    if fmt == "npy":
        return "arrays"
    if library == "datasets":
        return "builder"
    if fmt in ("png", "jpeg"):
        return "images"
    if fmt == "txt":
        return "lines"
    if fmt == "jsonl" and modality == "text" and library != "pandas":
        return "records"
    if library == "dask":
        return fmt
    return "table"


def snippet(dataset: dict, library: str) -> str:
    """Code that loads ``dataset`` (the API's detail: path, format, modality, name)
    with ``library`` (one of LIBRARIES) and shows a little of it."""
    if library not in LIBRARIES:
        raise ValueError(
            f"no snippets for library {str(library)[:40]!r}; libraries: {', '.join(LIBRARIES)}"
        )
    fmt = dataset.get("format")
    if fmt not in FORMATS:
        raise ValueError(
            f"no snippets for format {str(fmt)[:40]!r} (dataset "
            f"{str(dataset.get('name'))[:64]!r}); formats: {', '.join(FORMATS)}"
        )
    path = dataset.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"the dataset's path must be an absolute folder, got {str(path)[:80]!r}")
    kind = _kind(library, fmt, dataset.get("modality", ""))
    head = Template(HEAD).substitute(root=repr(path), files=GLOBS[fmt])
    code = Template(TEMPLATES[(library, kind)]).substitute(
        head=head, read=PANDAS_READ.get(fmt, ""), builder=repr(HF_BUILDER.get(fmt, ""))
    )
    return f"# {dataset.get('name', '')!r} with {LIBRARIES[library]}\n" + code
