"""The AI Factory Workbench in your notebook.

    import aiworkbench
    aiworkbench.session_info()   # where this session runs and what it holds

Widgets for budgets, datasets and courses arrive in this package.
"""

from .session import SessionInfo, session_info

__all__ = ["SessionInfo", "session_info"]
