"""The welcome notebook every new home starts with (ansible role factory_users)."""

import json
import re
from pathlib import Path

import aiworkbench

WELCOME = Path("ansible/roles/factory_users/files/Welcome.ipynb")


def test_the_welcome_notebook_covers_the_first_day_and_calls_only_real_names():
    notebook = json.loads(WELCOME.read_text())
    assert notebook["nbformat"] == 4
    text = "".join("".join(c["source"]) for c in notebook["cells"])
    for topic in (
        "## 1. Your session",
        "## 2. Your budgets",
        "## 3. The factory's data",
        "## 4. Courses",
        "## 5. Getting help",
        "Extend",
        "Stop",
    ):
        assert topic in text, topic
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    called = set(re.findall(r"aiworkbench\.(\w+)\(", code))
    assert called == {"session_info", "budget", "datasets", "course"}
    assert all(hasattr(aiworkbench, name) for name in called)
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
