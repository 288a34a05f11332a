"""The AI Factory Workbench in your notebook.

    import aiworkbench
    aiworkbench.session_info()   # where this session runs and what it holds
    aiworkbench.budget()         # your projects' GPU/CPU budgets, refreshed every 60 s
    aiworkbench.datasets()       # the factory's datasets: search, preview, code to load them
    aiworkbench.datasets("iris") # ... starting with a search
    aiworkbench.check("ID", answer, expected, hint="...")   # in course notebooks
    aiworkbench.publish_course("~/my-course", "intro")      # trainers: to a class
    aiworkbench.course()         # your courses: outline, progress, next step, your copy
    aiworkbench.course("first-steps")    # ... one course
    aiworkbench.class_progress("intro")  # trainers: the class's progress, who is stuck
    aiworkbench.dask_cluster(workers=4)  # Dask workers as Slurm jobs, within your budget
    aiworkbench.submit_batch("train.py", nodes=2, gpus_per_node=4, torchrun=True)

These names are imported on first use, so that the hub's environment (which has
no notebook libraries) and the stdlib-only core can import ``aiworkbench.*`` too.
"""

import importlib

# Each name users import from ``aiworkbench``, and the module that owns it.
_EXPORTS = {
    "budget": "aiworkbench.budgets.widget",
    "check": "aiworkbench.courses.exercise",
    "class_progress": "aiworkbench.courses.widget",
    "course": "aiworkbench.courses.widget",
    "dask_cluster": "aiworkbench.scaleout.dask_slurm",
    "datasets": "aiworkbench.catalog.widget",
    "publish_course": "aiworkbench.courses.publish",
    "session_info": "aiworkbench.sessions.info",
    "SessionInfo": "aiworkbench.sessions.info",
    "submit_batch": "aiworkbench.scaleout.batch",
    "WorkRefused": "aiworkbench.scaleout.slurm_work",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aiworkbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
