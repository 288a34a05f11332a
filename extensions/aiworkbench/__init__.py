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
"""

from .budget_widget import budget
from .course_widget import class_progress, course
from .courses.exercise import check
from .courses.publish import publish_course
from .dataset_widget import datasets
from .session import SessionInfo, session_info

__all__ = ["SessionInfo", "budget", "check", "class_progress", "course", "datasets",
           "publish_course", "session_info"]
