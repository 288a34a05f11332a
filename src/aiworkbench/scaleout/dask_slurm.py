"""A Dask cluster on Slurm in one call, configured from the running session.

    import aiworkbench
    cluster = aiworkbench.dask_cluster(workers=4)   # adaptive, up to 4 workers
    client = cluster.get_client()
    ...
    cluster.close()                                  # cancels every worker job

:func:`dask_cluster` returns a dask-jobqueue ``SLURMCluster`` whose worker jobs are
charged to the session's project, on the session's partition (or the one given),
never longer than the session has left, on the network interface the session uses
to reach the hub, with the node's local scratch for spilling. Before any job is
submitted the request is checked against the project's partitions and remaining
budget (:mod:`.slurm_work`): the cluster scales adaptively up to as many workers as
the budget pays for, and a request the budget cannot pay even one worker of is
refused with the figures. The scheduler's dashboard is reachable in JupyterLab
through jupyter-server-proxy (``cluster.dashboard_link``; dask-labextension finds
it).

No worker job outlives its cluster: closing the cluster (or the kernel exiting)
cancels them, and if the kernel is killed, the workers lose their scheduler and
exit after ``DEATH_TIMEOUT_S``, which ends their jobs.
"""

from __future__ import annotations

import atexit
import os
import urllib.parse
import uuid
import weakref

from aiworkbench.core import commands
from aiworkbench.scaleout.netif import interface_towards
from aiworkbench.scaleout.slurm_work import (
    WorkRefused,
    WorkRequest,
    affordable,
    session_minutes_left,
    session_partition,
    session_project,
)

DEATH_TIMEOUT_S = 60  # a worker without its scheduler this long exits (its job ends)
DEFAULT_MINUTES = 60  # a worker job's walltime when the session does not bound it
JOB_NAME = "aiwb-dask"  # worker jobs: aiwb-dask-SESSIONJOB-ID (scancel --name finds them)


def session_interface(environ=None) -> str | None:
    """The network interface this node uses to reach the hub (Dask's scheduler and
    workers listen there), or None when it cannot be told."""
    env = os.environ if environ is None else environ
    host = urllib.parse.urlsplit(env.get("JUPYTERHUB_API_URL", "")).hostname
    return interface_towards(host) if host else None


def local_scratch(environ=None) -> str:
    """The node's local scratch: $TMPDIR when Slurm (or the site) sets it, else /tmp."""
    env = os.environ if environ is None else environ
    folder = env.get("TMPDIR", "")
    return folder if folder and os.path.isdir(folder) else "/tmp"


def dashboard_link(environ=None) -> str:
    """The dashboard's address through this session's jupyter-server-proxy."""
    env = os.environ if environ is None else environ
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    return prefix.rstrip("/") + "/proxy/{port}/status"


def _cancel_named(name: str) -> None:
    # scancel failing (no such jobs left) changes nothing; one that cannot run raises.
    commands.output(["scancel", f"--name={name}", f"--user={os.getuid()}"], timeout=30)


def dask_cluster(
    workers: int = 2,
    *,
    cores: int = 1,
    memory_gb: int = 2,
    gpus: int = 0,
    minutes: int | None = None,
    partition: str | None = None,
    project: str | None = None,
    adaptive: bool = True,
    minimum: int = 0,
    environ=None,
    check=affordable,
    cluster_class=None,
    **extra,
):
    """A ``SLURMCluster`` of up to ``workers`` worker jobs (one process, ``cores`` cores,
    ``memory_gb`` GB and ``gpus`` GPUs each), scaled adaptively between ``minimum`` and
    the most the budget pays for (``adaptive=False``: that many at once). Refusals
    (:class:`~aiworkbench.scaleout.slurm_work.WorkRefused`) say what is allowed. ``extra`` goes to
    ``SLURMCluster`` as is."""
    env = os.environ if environ is None else environ
    project = project or session_project(env)
    partition = partition or session_partition(env)
    if not project or not partition:
        raise WorkRefused(
            "no project or partition: run this in a workbench session, or "
            "give project= and partition="
        )
    if minutes is None:
        left = session_minutes_left(env)
        minutes = min(DEFAULT_MINUTES, left) if left else DEFAULT_MINUTES
    if not isinstance(memory_gb, int) or isinstance(memory_gb, bool) or memory_gb < 1:
        raise WorkRefused(f"memory_gb must be a whole number of at least 1, got {memory_gb!r}")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or not 0 <= minimum <= workers:
        raise WorkRefused(f"minimum must be from 0 to workers ({workers}), got {minimum!r}")
    request = WorkRequest(
        project=project, partition=partition, cpus=cores, gpus=gpus, minutes=minutes, jobs=workers
    )
    most = check(request)
    if cluster_class is None:
        from dask_jobqueue import SLURMCluster as cluster_class
    import dask

    # Each cluster's jobs have their own name, so closing one cancels only its own.
    name = f"{JOB_NAME}-{env.get('SLURM_JOB_ID', 'notebook')}-{uuid.uuid4().hex[:6]}"
    directives = ["--chdir=/tmp"] + ([f"--gres=gpu:{gpus}"] if gpus else [])
    interface = session_interface(env)
    # Every cluster and client of this kernel links its dashboard through the proxy.
    dask.config.set({"distributed.dashboard.link": dashboard_link(env)})
    cluster = cluster_class(
        account=project,
        queue=partition,
        cores=cores,
        processes=1,
        memory=f"{memory_gb}GB",
        walltime=f"{minutes // 60:02d}:{minutes % 60:02d}:00",
        job_name=name,
        interface=interface,
        local_directory=local_scratch(env),
        log_directory=os.path.join(os.path.expanduser("~"), ".aiworkbench", "dask-logs"),
        job_extra_directives=directives,
        worker_extra_args=[
            "--death-timeout",
            str(DEATH_TIMEOUT_S),
            "--lifetime",
            f"{max(minutes - 1, 1)}m",
            "--lifetime-stagger",
            "30s",
        ],
        scheduler_options={
            "dashboard_address": ":0",
            **({"interface": interface} if interface else {}),
        },
        **extra,
    )
    cluster.workbench_limit = most  # the most workers the budget pays for now
    cluster.workbench_request = request
    if adaptive:
        cluster.adapt(minimum=min(minimum, most), maximum=most)
    else:
        cluster.scale(most)
    # Closing the kernel closes the cluster (then cancels what is left); a cluster
    # dropped unclosed has its jobs cancelled. Each path once: not both at exit.
    atexit.register(_close_quietly, weakref.ref(cluster), name)
    weakref.finalize(cluster, _cancel_named, name).atexit = False
    return cluster


def _close_quietly(ref, name: str) -> None:
    cluster = ref()
    try:
        if cluster is not None and cluster.status.name not in ("closed", "closing"):
            cluster.close(timeout=20)
    except Exception:  # noqa: BLE001 (at exit: make sure the jobs go, whatever failed)
        pass
    _cancel_named(name)
