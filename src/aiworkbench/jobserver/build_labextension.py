"""Build the workbench's JupyterLab extension (aiworkbench-status) and install it.

    PREFIX/bin/python -m aiworkbench.jobserver.build_labextension --env PREFIX
        [--source DIR] [--npm-cache DIR] [--jupyter PATH] [--force]

Run by the kernel environment's install step (ansible role ``kernel_env``). Builds
the prebuilt extension from its TypeScript source (``labextension/`` beside this
module, shipped in the package) with JupyterLab's own builder, in a
temporary copy: ``npm install`` of its devDependencies from the npm registry,
``tsc``, then the builder of PREFIX/bin/jupyter's environment (or ``--jupyter``'s):
``jupyter-builder build`` beside it (JupyterLab >= 4.6, where ``jupyter labextension
build`` is its deprecated alias), else ``jupyter labextension build``. The result
goes to PREFIX/share/jupyter/labextensions/aiworkbench-status/, where JupyterLab
finds it: nothing is fetched when a session starts.

Idempotent: the installed copy records what it was built from (the source's digest
and JupyterLab's version); when both are unchanged nothing is done unless --force.
It prints "installed" or "up to date" (for ansible's changed_when) and exits 1 with
the reason when npm, tsc or the builder fails. Commands run as argument lists through
``aiworkbench.core.commands``, each step within ``STEP_TIMEOUT_S``; a step's output is
shown when it ends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError

NAME = "aiworkbench-status"
SOURCE = Path(__file__).resolve().parent / "labextension"
SOURCE_PARTS = ("package.json", "tsconfig.json", "src", "style")  # what the build reads
STAMP = ".aiworkbench-build.json"
# How long one step may run. npm install fetches a few hundred packages from the registry
# (or the site's mirror), minutes on a slow link; tsc and JupyterLab's builder (webpack)
# take a minute or two on a small machine. A step still running after half an hour
# hangs (a registry that stopped answering): it is ended, and the build fails.
STEP_TIMEOUT_S = 30 * 60


class Failed(Exception):
    """A step failed; the message says which and why."""


def digest(source: Path) -> str:
    """sha256 over the source's files (names and contents) that the build reads."""
    h = hashlib.sha256()
    for part in SOURCE_PARTS:
        paths = (
            [source / part]
            if (source / part).is_file()
            else sorted(p for p in (source / part).rglob("*") if p.is_file())
        )
        for path in paths:
            h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def run(
    step: str, argv: list[str], cwd: Path, capture: bool = False, timeout: float = STEP_TIMEOUT_S
) -> str:
    """Run ``argv`` and show its output once it ends (its standard output only when it
    fails, if ``capture``); the last line of its standard output. Raises :class:`Failed`
    naming ``step`` when it fails or does not end within ``timeout`` seconds."""
    print(f"build-labextension: {step}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    try:
        done = commands.completed(argv, cwd=str(cwd), timeout=timeout, missing_ok=False)
    except CommandError as err:
        raise Failed(f"{step}: {err}") from err
    if done.returncode != 0 or not capture:
        print(done.stdout, end="", flush=True)
    print(done.stderr, end="", file=sys.stderr, flush=True)
    if done.returncode != 0:
        raise Failed(f"{step} failed (exit status {done.returncode}); its output is above")
    print(f"build-labextension: {step}: done in {time.monotonic() - started:.1f} s", flush=True)
    return (done.stdout.strip().splitlines() or [""])[-1]


def check_source(source: Path) -> None:
    missing = [p for p in SOURCE_PARTS if not (source / p).exists()]
    if missing:
        raise Failed(f"{source} is not the extension's source: no {', '.join(missing)}")


def copy_source(source: Path, work: Path) -> None:
    work.mkdir()
    for part in SOURCE_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, work / part)
        else:
            shutil.copy2(source / part, work / part)


def build(source: Path, work: Path, jupyter: Path, npm_cache: Path | None) -> Path:
    """Build in ``work`` (a fresh directory); the built extension's directory."""
    copy_source(source, work)
    npm = shutil.which("npm")
    if npm is None:
        raise Failed("npm is not installed (Node.js and npm are needed to build)")
    install = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock"]
    if npm_cache is not None:
        install += ["--cache", str(npm_cache)]
    run("npm install", install, work)
    run("tsc", [str(work / "node_modules/.bin/tsc"), "-p", str(work / "tsconfig.json")], work)
    # JupyterLab >= 4.6 builds with jupyter-builder (`jupyter labextension build` is now
    # its deprecated alias, found on PATH); older ones with `jupyter labextension build`
    builder = jupyter.with_name("jupyter-builder")
    argv = [str(builder), "build"] if builder.exists() else [str(jupyter), "labextension", "build"]
    run("build", [*argv, str(work)], work)
    output_dir = json.loads((work / "package.json").read_text())["jupyterlab"]["outputDir"]
    output = work / output_dir
    if not (output / "package.json").is_file() or not list(output.glob("static/remoteEntry.*.js")):
        raise Failed(
            f"the builder left no package.json and static/remoteEntry.*.js in {output_dir}"
        )
    return output


def install(output: Path, target: Path, stamp: dict) -> None:
    """Replace ``target`` by ``output`` (a copy beside it, then renames)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    new, old = target.with_name(f".{NAME}.new"), target.with_name(f".{NAME}.old")
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(output, new)
    (new / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def size(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env",
        required=True,
        type=Path,
        help="the Python environment (prefix) to install the extension into",
    )
    parser.add_argument(
        "--source", type=Path, default=SOURCE, help=f"the extension's source (default: {SOURCE})"
    )
    parser.add_argument("--npm-cache", type=Path, help="npm's cache directory")
    parser.add_argument(
        "--jupyter", type=Path, help="the jupyter command that builds (default: ENV/bin/jupyter)"
    )
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    args = parser.parse_args(argv)

    started = time.monotonic()
    env, source = args.env.resolve(), args.source.resolve()
    jupyter = (args.jupyter or env / "bin" / "jupyter").absolute()
    target = env / "share" / "jupyter" / "labextensions" / NAME
    try:
        if not env.is_dir():
            raise Failed(f"{env} is not a directory (give the environment's prefix)")
        if not os.access(jupyter, os.X_OK):
            raise Failed(f"{jupyter} is not an executable jupyter (use --jupyter PATH)")
        check_source(source)
        lab = run("JupyterLab's version", [str(jupyter), "lab", "--version"], source, capture=True)
        stamp = {"source_sha256": digest(source), "jupyterlab": lab}
        try:
            installed = json.loads((target / STAMP).read_text())
        except (OSError, ValueError):
            installed = None
        if installed == stamp and not args.force:
            print(
                f"build-labextension: {NAME} is up to date in {target} (built from this "
                f"source for JupyterLab {lab})"
            )
            return 0
        with tempfile.TemporaryDirectory(prefix="aiwb-labextension-") as tmp:
            output = build(source, Path(tmp) / NAME, jupyter, args.npm_cache)
            install(output, target, stamp)
    except Failed as err:
        print(f"build-labextension: {err}", file=sys.stderr)
        return 1
    files, total = size(target)
    print(
        f"build-labextension: {NAME} installed in {target} for JupyterLab {lab}: "
        f"{files} files, {total / 1024:.0f} KiB, in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
