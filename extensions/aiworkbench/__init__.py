"""The AI Factory Workbench in your notebook.

    import aiworkbench
    aiworkbench.session_info()   # where this session runs and what it holds
    aiworkbench.budget()         # your projects' GPU/CPU budgets, refreshed every 60 s

Widgets for datasets and courses arrive in this package.
"""

from .budget_widget import budget
from .session import SessionInfo, session_info

__all__ = ["SessionInfo", "budget", "session_info"]
