"""The import rules of docs/architecture.md ("Import rules"), checked on the source.

Static rules read every module's imports (top level and inside functions) with ``ast``;
the two environments' rules also import every module of a side for real, in a fresh
interpreter where the other environment's libraries cannot be imported (that catches
what a module imports through a library).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "aiworkbench"
FOLDER = REPO / "src" / PACKAGE
# The stdlib-only core: it runs before anything is installed (site checks, preflight,
# make down and make uninstall from a fresh clone). The package's own __init__ imports
# users' names on first use only, so the core can be imported through it.
CORE_PREFIX = "aiworkbench.core"
# What runs in the hub's environment (PREFIX/hub): the hub, the API service and the
# features' routes, the admin tools, the portal's pages, and the sessions' hub side.
HUB_SIDE = (
    "aiworkbench.hub",
    "aiworkbench.api",
    "aiworkbench.admin",
    "aiworkbench.portal",
    "aiworkbench.sessions.spawner",
    "aiworkbench.sessions.cards",
    "aiworkbench.sessions.extend",
    "aiworkbench.sessions.extend_route",
    "aiworkbench.sessions.capacity",
    "aiworkbench.sessions.request",
    "aiworkbench.sessions.poller",
    "aiworkbench.sessions.reasons",
    "aiworkbench.sessions.port_callback",
    "aiworkbench.sessions.gpu_idle",
    "aiworkbench.sessions.api",
    "aiworkbench.budgets.api",
    "aiworkbench.catalog.api",
    "aiworkbench.courses.api",
    "aiworkbench.courses.progress_api",
    "aiworkbench.courses.shelf",
)
# Features' stdlib-only modules that both environments use (the API's routes and the
# widgets): the accounting reader, who sees which budget, datacards, the catalog's
# index and paths, courses, students' copies and progress. The folders' __init__
# modules are shared too (they import nothing).
SHARED = {
    "aiworkbench.budgets.accounting",
    "aiworkbench.budgets.access",
    "aiworkbench.catalog.paths",
    "aiworkbench.catalog.datacard",
    "aiworkbench.catalog.index",
    "aiworkbench.courses.course",
    "aiworkbench.courses.sync",
    "aiworkbench.courses.progress",
}
# Everything else runs in the kernels' environment (PREFIX/env): widgets, CLIs, the
# session's job, scale-out, the dashboards. The dashboards' Voila service is a
# kernel-side process that uses JupyterHub's service auth (JupyterHub is in the
# kernels' environment for jupyterhub-singleuser); so is the session's server, whose
# status route (jobserver.status) is a Jupyter server handler.
KERNEL_PROCESSES_WITH_HUB_AUTH = {"aiworkbench.dashboards.service", "aiworkbench.jobserver.status"}
# The hub's libraries: no kernel-side module may need them to import ...
HUB_LIBRARIES = (
    "tornado",
    "jupyterhub",
    "jupyter_server",
    "batchspawner",
    "oauthenticator",
    "sqlalchemy",
    "alembic",
)
# ... and the kernels' libraries, which no hub-side module may need.
KERNEL_LIBRARIES = (
    "ipywidgets",
    "IPython",
    "ipykernel",
    "jupyterlab",
    "voila",
    "numpy",
    "pandas",
    "pyarrow",
    "PIL",
    "sklearn",
    "datasets",
    "dask",
    "dask_jobqueue",
    "distributed",
    "torch",
    "duckdb",
    "bqplot",
    "ipylab",
    "psutil",
    "pynvml",
)


def modules():
    """{module name: path} of the package."""
    found = {}
    for path in sorted(FOLDER.rglob("*.py")):
        parts = list(path.relative_to(FOLDER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
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
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # "from . import x": x may be a module of ours
            found.update(
                f"{target}.{alias.name}"
                for alias in node.names
                if f"{target}.{alias.name}" in MODULES
            )
    return found


MODULES = modules()
IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}
FOLDERS = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def side(name: str) -> str:
    """core, shared, hub or kernel: where a module may run."""
    if within(name, CORE_PREFIX):
        return "core"
    if name in SHARED or name in FOLDERS:
        return "shared"
    if any(within(name, prefix) for prefix in HUB_SIDE):
        return "hub"
    return "kernel"


def ours(imported: set[str]) -> set[str]:
    """The imported modules that are ours, less the package's folders (their imports are
    the rules' business where they are written)."""
    return {name for name in imported if name in MODULES and name not in FOLDERS}


def outside_stdlib(imported: set[str]) -> list[str]:
    return sorted(
        i
        for i in imported - set(MODULES) - {"__future__"}
        if i.split(".")[0] not in sys.stdlib_module_names
    )


def of_side(wanted: str) -> list[str]:
    return sorted(n for n in MODULES if side(n) == wanted and n not in FOLDERS)


def test_the_rules_see_every_module_and_every_name_they_list_exists():
    assert len(MODULES) > 70
    listed = SHARED | KERNEL_PROCESSES_WITH_HUB_AUTH | set(HUB_SIDE)
    assert listed <= set(MODULES), sorted(listed - set(MODULES))
    assert {side(n) for n in MODULES} == {"core", "shared", "hub", "kernel"}


@pytest.mark.parametrize("name", of_side("core") + sorted(FOLDERS))
def test_the_core_and_the_folders_import_only_the_standard_library_and_the_core(name):
    imported = IMPORTS[name]
    assert outside_stdlib(imported) == [], f"{name}: the core must run on a bare machine"
    assert {i for i in ours(imported) if side(i) != "core"} == set(), (
        f"{name} imports {sorted(ours(imported))}, which are not all core"
    )


@pytest.mark.parametrize("name", of_side("shared"))
def test_the_shared_modules_import_only_the_standard_library_the_core_and_each_other(name):
    imported = IMPORTS[name]
    assert outside_stdlib(imported) == [], f"{name}: both environments import it"
    wrong = sorted(i for i in ours(imported) if side(i) not in ("core", "shared"))
    assert wrong == [], f"{name} imports {wrong}, which are not shared"


@pytest.mark.parametrize(("here", "there"), [("hub", "kernel"), ("kernel", "hub")])
def test_one_environments_side_never_imports_the_others(here, there):
    wrong = {
        name: sorted(i for i in ours(imported) if side(i) == there)
        for name, imported in IMPORTS.items()
        if side(name) == here
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def libraries(imported: set[str], names) -> list[str]:
    return sorted(i for i in imported if i.split(".")[0] in names)


def test_no_module_imports_the_other_environments_libraries_even_inside_a_function():
    wrong = {}
    for name, imported in IMPORTS.items():
        if side(name) in ("hub", "shared", "core"):
            found = libraries(imported, KERNEL_LIBRARIES)
        elif name not in KERNEL_PROCESSES_WITH_HUB_AUTH:
            found = libraries(imported, HUB_LIBRARIES)
        else:
            found = []
        if found:
            wrong[name] = found
    assert wrong == {}
    # the rule can fail: the widgets' base needs no ipywidgets, the budget panel does
    assert libraries(IMPORTS["aiworkbench.budgets.widget"], KERNEL_LIBRARIES) == ["ipywidgets"]


BLOCKING_IMPORT = """
import importlib, sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is the other environment's")
sys.meta_path.insert(0, Block())
failed = []
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{name}: {err}")
print("\\n".join(failed))
"""


def import_blocking(blocked, names) -> str:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKING_IMPORT, ",".join(blocked), *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_every_kernel_side_module_imports_without_the_hubs_libraries():
    names = [
        n
        for n in of_side("kernel") + of_side("shared") + of_side("core")
        if n not in KERNEL_PROCESSES_WITH_HUB_AUTH
    ]
    assert {"aiworkbench.budgets.widget", "aiworkbench.scaleout.batch"} <= set(names)
    assert import_blocking(HUB_LIBRARIES, names) == ""


def test_every_hub_side_module_imports_without_the_kernels_libraries():
    names = of_side("hub") + of_side("shared") + of_side("core") + ["aiworkbench"]
    assert {"aiworkbench.sessions.spawner", "aiworkbench.api.app"} <= set(names)
    assert import_blocking(KERNEL_LIBRARIES, names) == ""


def test_the_blocking_import_can_fail():
    """The API service needs JupyterHub to import."""
    assert "aiworkbench.api.app: jupyterhub" in import_blocking(
        HUB_LIBRARIES, ["aiworkbench.api.app"]
    )
