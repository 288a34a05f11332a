"""Where a converge's time goes: each task's seconds (loops summed), the slowest listed
at the end of the play recap. Off unless asked for:

    ANSIBLE_CALLBACKS_ENABLED=task_times scripts/factory converge

(ansible.posix's profile_tasks does the same, but that collection is not installed
with ansible-core and the factory fetches nothing from Galaxy.)"""

from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: task_times
    type: aggregate
    short_description: the slowest tasks of a run, with their seconds
    description: Lists the tasks that took longest (loops summed) after the recap.
    options:
      shown:
        description: how many tasks to list
        default: 30
        env:
          - name: AIWB_TASK_TIMES_SHOWN
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.spent: dict[str, float] = {}
        self.current: tuple[str, float] | None = None
        self.started = time.monotonic()

    def _close(self) -> None:
        if self.current is not None:
            name, began = self.current
            self.spent[name] = self.spent.get(name, 0.0) + time.monotonic() - began
            self.current = None

    def _open(self, task) -> None:
        self._close()
        self.current = (task.get_name(), time.monotonic())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        shown = int(os.environ.get("AIWB_TASK_TIMES_SHOWN", "30"))
        total = time.monotonic() - self.started
        self._display.display(f"\nTASK TIMES: {total:.0f} s in all; the slowest tasks:")
        slowest = sorted(self.spent.items(), key=lambda kv: kv[1], reverse=True)[:shown]
        for name, seconds in slowest:
            self._display.display(f"{seconds:8.1f} s  {name}")
