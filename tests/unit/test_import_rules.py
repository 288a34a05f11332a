"""The import rules of docs/architecture.md ("Import rules"), checked on the source.

Static rules read every module's imports (top level and inside functions) with ``ast``;
the notebook-side rule also imports every notebook-side module for real, in a fresh
interpreter where the hub's libraries cannot be imported.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"aiworkbench_hub": REPO / "spawners" / "aiworkbench_hub",
            "aiworkbench": REPO / "extensions" / "aiworkbench"}
# The stdlib-only core: it runs before anything is installed (site checks, preflight,
# make down and make uninstall from a fresh clone).
CORE = {"aiworkbench_hub.site", "aiworkbench_hub.daemons", "aiworkbench_hub.preflight",
        "aiworkbench_hub.teardown", "aiworkbench_hub.oidc"}
# The hub's stdlib-only modules that both sides share: the command runner, Slurm's
# commands, parsers and states, the accounting reader, sizes in words.
SHARED = {"aiworkbench_hub.commands", "aiworkbench_hub.slurm", "aiworkbench_hub.accounting",
          "aiworkbench_hub.units"}
# What the notebook side may use of the hub's package: the core and the shared modules.
HUB_FOR_NOTEBOOKS = CORE | SHARED | {"aiworkbench_hub"}
# The services' and admins' side of the aiworkbench package (they run next to the hub).
SERVICES = ("aiworkbench.api", "aiworkbench.dashboards.service",
            "aiworkbench.dashboards.ingest", "aiworkbench.catalog.cli")
# The hub's libraries: no notebook-side module may need them to import.
HUB_LIBRARIES = ("tornado", "jupyterhub", "jupyter_server", "batchspawner",
                 "oauthenticator", "sqlalchemy")


def modules():
    """{module name: path} of both packages."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, relative imports resolved; a name imported from a
    module of ours counts as that module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # "from . import x": x may be a module of ours
            found.update(f"{target}.{alias.name}" for alias in node.names
                         if f"{target}.{alias.name}" in MODULES)
    return found


MODULES = modules()
IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}


def ours(imported: set[str]) -> set[str]:
    """The imported modules that are ours."""
    return {name for name in imported if name in MODULES}


def is_service(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in SERVICES)


def test_the_rules_see_every_module():
    assert len(MODULES) > 60 and set(MODULES) >= CORE | SHARED
    assert all(s in MODULES for s in SERVICES)


@pytest.mark.parametrize("name", sorted(CORE))
def test_the_core_imports_only_the_standard_library_and_the_core(name):
    imported = IMPORTS[name]
    outside = sorted(i for i in imported - ours(imported) - {"__future__"}
                     if i.split(".")[0] not in sys.stdlib_module_names)
    assert outside == [], f"{name} imports {outside}: the core must run on a bare machine"
    assert ours(imported) - {"aiworkbench_hub"} <= CORE, (
        f"{name} imports {sorted(ours(imported) - CORE)}, which are not core")


@pytest.mark.parametrize("name", sorted(SHARED))
def test_the_shared_modules_import_only_the_standard_library_the_core_and_each_other(name):
    imported = IMPORTS[name]
    outside = sorted(i for i in imported - ours(imported) - {"__future__"}
                     if i.split(".")[0] not in sys.stdlib_module_names)
    assert outside == [], f"{name} imports {outside}: the notebook side imports it"
    assert ours(imported) - {"aiworkbench_hub"} <= CORE | SHARED, (
        f"{name} imports {sorted(ours(imported) - CORE - SHARED)}, which are not shared")


def test_the_hubs_package_never_imports_the_notebook_package():
    wrong = {name: sorted(i for i in imported if i.split(".")[0] == "aiworkbench")
             for name, imported in IMPORTS.items() if name.startswith("aiworkbench_hub")}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_notebook_side_uses_only_the_hubs_core_and_shared_modules():
    wrong = {}
    for name, imported in IMPORTS.items():
        if name.startswith("aiworkbench.") and not is_service(name):
            used = {i for i in imported if i.split(".")[0] == "aiworkbench_hub"}
            if used - HUB_FOR_NOTEBOOKS:
                wrong[name] = sorted(used - HUB_FOR_NOTEBOOKS)
    assert wrong == {}


BLOCKING_IMPORT = """
import importlib, sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is a hub library")
sys.meta_path.insert(0, Block())
failed = []
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{name}: {err}")
print("\\n".join(failed))
"""


def test_every_notebook_side_module_imports_without_the_hubs_libraries():
    notebook_side = sorted(n for n in MODULES if n.split(".")[0] == "aiworkbench"
                           and not is_service(n))
    assert "aiworkbench.budget_widget" in notebook_side and "aiworkbench.batch" in notebook_side
    done = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT, ",".join(HUB_LIBRARIES),
                           *notebook_side], capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout


def test_a_service_that_needs_the_hubs_libraries_is_seen_failing():
    """The blocking import above can fail: the API service needs JupyterHub."""
    done = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT, ",".join(HUB_LIBRARIES),
                           "aiworkbench.api.app"], capture_output=True, text=True, timeout=25)
    assert "aiworkbench.api.app: jupyterhub" in done.stdout
