"""GPU and CPU budgets from Slurm accounting.

The cached accounting reader (:mod:`.accounting`), who may see which budget
(:mod:`.access`), the API's routes (:mod:`.api`), the notebook widget
``aiworkbench.budget()`` (:mod:`.widget`) and ``aiworkbench-budget`` (:mod:`.cli`).
"""
