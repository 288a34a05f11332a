"""Scaling out from a session on the same cluster, within the user's budget.

Dask workers as Slurm jobs (:mod:`.dask_slurm`), batch jobs with srun or torchrun
(:mod:`.batch`), both checked against the budget and the session's time left by
:mod:`.slurm_work`; :mod:`.netif` picks the interface towards the nodes.
"""
