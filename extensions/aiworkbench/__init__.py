"""The AI Factory Workbench in your notebook.

    import aiworkbench
    aiworkbench.session_info()   # where this session runs and what it holds
    aiworkbench.budget()         # your projects' GPU/CPU budgets, refreshed every 60 s
    aiworkbench.datasets()       # the factory's datasets: search, preview, code to load them
    aiworkbench.datasets("iris") # ... starting with a search

Widgets for courses arrive in this package.
"""

from .budget_widget import budget
from .dataset_widget import datasets
from .session import SessionInfo, session_info

__all__ = ["SessionInfo", "budget", "datasets", "session_info"]
