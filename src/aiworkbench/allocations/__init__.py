"""Allocations: the grants of the allocation system (each project's account, budget in
GPU- and CPU-minutes, members, and whether it is still running) reconciled into Slurm
accounting by one owner, :mod:`.reconcile`, which only adds and modifies (an ended
project is blocked from new jobs, a departed member's association is kept and blocked),
and ``aiworkbench-allocations`` (:mod:`.cli`), the admin tool that runs it.
"""
