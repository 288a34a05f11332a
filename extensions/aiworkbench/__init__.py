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
"""

from .budget_widget import budget
from .course_widget import class_progress, course
from .courses.exercise import check
from .courses.publish import publish_course
from .dataset_widget import datasets
from .slurm_work import WorkRefused
from .session import SessionInfo, session_info

__all__ = ["SessionInfo", "WorkRefused", "budget", "check", "class_progress", "course",
           "dask_cluster", "datasets", "publish_course", "session_info", "submit_batch"]


def dask_cluster(*args, **kwargs):
    """A Dask cluster on Slurm from this session (see :mod:`aiworkbench.dask_slurm`)."""
    from .dask_slurm import dask_cluster as make

    return make(*args, **kwargs)


def submit_batch(*args, **kwargs):
    """Submit a script as a batch job (see :mod:`aiworkbench.batch`)."""
    from .batch import submit_batch as submit

    return submit(*args, **kwargs)
