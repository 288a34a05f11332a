"""Where a test run's time went: each tier's seconds and the slowest tests.

Every run of pytest writes every test's seconds to a file (tests/conftest.py's
``TierClock``; `make test`'s two passes write one each) and prints this report; the
same report over several files:

    .venv/bin/python -m tests.times test-results/test-times-*.tsv
"""

from __future__ import annotations

import sys
from pathlib import Path

# The tiers, in the order a run takes them: the quick ones first, so that a broken
# unit test is reported before the factory's tiers start.
TIERS = ("unit", "component", "integration", "browser", "notebooks")
SLOWEST_SHOWN = 25  # how many of the slowest tests a report lists


def tier_of(nodeid: str) -> str:
    """The tier of a node id relative to the repository (tests/TIER/...)."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def report(spent: dict[str, float]) -> list[str]:
    """Each tier's tests and seconds, then the slowest tests, as lines."""
    tiers: dict[str, list[float]] = {}
    for nodeid, seconds in spent.items():
        tiers.setdefault(tier_of(nodeid), []).append(seconds)
    order = sorted(tiers, key=lambda t: TIERS.index(t) if t in TIERS else len(TIERS))
    lines = ["time per tier (setup + call + teardown, summed over the tests)"]
    lines += [f"{tier:12} {len(tiers[tier]):5} tests {sum(tiers[tier]):9.1f} s" for tier in order]
    lines.append(f"the {SLOWEST_SHOWN} slowest tests")
    slowest = sorted(spent.items(), key=lambda kv: kv[1], reverse=True)[:SLOWEST_SHOWN]
    lines += [f"{seconds:8.1f} s  {nodeid}" for nodeid, seconds in slowest]
    return lines


def write(spent: dict[str, float], path: Path) -> None:
    """Every test's seconds, slowest first, one ``SECONDS<TAB>NODEID`` a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    slowest = sorted(spent.items(), key=lambda kv: kv[1], reverse=True)
    path.write_text("".join(f"{seconds:.1f}\t{nodeid}\n" for nodeid, seconds in slowest))


def read(paths: list[Path]) -> dict[str, float]:
    spent: dict[str, float] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            seconds, nodeid = line.split("\t", 1)
            spent[nodeid] = spent.get(nodeid, 0.0) + float(seconds)
    return spent


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    print("\n".join(report(read([Path(a) for a in argv]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
