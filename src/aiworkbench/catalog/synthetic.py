"""A large synthetic catalog for tests and benchmarks: honest datacards (they say
they are synthetic) over tiny files.

    python -m aiworkbench.catalog.synthetic ROOT --datasets 10000 [--files 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

WORDS = (
    "vision",
    "medical",
    "satellite",
    "traffic",
    "energy",
    "finance",
    "speech",
    "weather",
    "retail",
    "genomics",
    "robotics",
    "manufacturing",
    "agriculture",
    "legal",
    "climate",
    "ocean",
    "materials",
    "chemistry",
    "language",
    "sensor",
)
KINDS = [
    ("tabular", "csv"),
    ("tabular", "parquet"),
    ("image", "png"),
    ("text", "txt"),
    ("text", "jsonl"),
    ("timeseries", "csv"),
    ("audio", "wav"),
]
LICENCES = ("CC-BY-4.0", "CC0-1.0", "MIT", "ODbL-1.0", "proprietary")


def make_catalog(
    root: str | Path,
    datasets: int,
    files: int = 3,
    seed: int = 1,
    projects=("edu-intro", "sme-vision", "sme-trial"),
) -> list[str]:
    """Write ``datasets`` synthetic datasets under ``root``; their names. One in ten is
    restricted to one of ``projects``."""
    rng = random.Random(seed)
    root = Path(root)
    names = []
    for i in range(datasets):
        topic, other = rng.sample(WORDS, 2)
        modality, fmt = rng.choice(KINDS)
        name = f"synthetic-{topic}-{i:06d}"
        access = f'["{rng.choice(projects)}"]' if i % 10 == 9 else '"public"'
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "datacard.toml").write_text(
            f'name = "{name}"\ntitle = "Synthetic {topic} {modality} data #{i}"\n'
            f'description = "Generated test data about {topic} and {other}; not real '
            f'measurements."\nowner = "factory-ops"\nlicence = "{rng.choice(LICENCES)}"\n'
            f'modality = "{modality}"\nformat = "{fmt}"\naccess = {access}\n'
            f'tags = ["synthetic", "{topic}", "{other}"]\n'
        )
        for j in range(files):
            (folder / f"part-{j:05d}.{fmt}").write_text(f"synthetic {i} {j}\n")
        names.append(name)
    return names


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.catalog.synthetic", description=__doc__.splitlines()[0]
    )
    parser.add_argument("root")
    parser.add_argument("--datasets", type=int, default=10000)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.datasets < 1 or args.files < 0:
        parser.error("--datasets must be at least 1 and --files at least 0")
    print(len(make_catalog(args.root, args.datasets, args.files, args.seed)), "datasets")


if __name__ == "__main__":
    main()
