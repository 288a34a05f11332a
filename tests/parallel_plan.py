"""Which tests of the factory's tiers may run at the same time.

`make test` runs the integration, browser and notebooks tiers in two passes
(scripts/factory): first every test not marked ``alone`` on several workers
(pytest-xdist, ``--dist loadgroup``), then the ``alone`` tests one after another
with nothing else running. Most of these tests wait (for Slurm, for JupyterLab,
for accounting), so a few at once shorten the run without loading the machine much.

Two tests may overlap unless they would disturb each other. What disturbs:

- a demo user: logging one in (``hub_user``) stops that user's servers, and many
  checks count the user's jobs; tests acting as the same user share a group, which
  one worker runs in order;
- what every test sees: restarts (the hub, Slurm's daemons), ``make down``/``up``, a
  converge, a partition set DOWN, a drained node, a hub configuration drop-in,
  changed budgets, a broken environment, restored databases: such a test is
  ``alone``;
- counts over the whole cluster or a shared project (the dashboards' totals, a
  reindex's exact report): ``alone`` too, or grouped with the tests that change them.

Every file of those tiers is listed here (a file missing from the table stops the
run, so that a new one is placed on purpose); a test listed in ``TESTS`` overrides
its file. ``None``: no group, any worker, any time.
"""

from __future__ import annotations

ALONE = "alone"

# file (under tests/) -> group, ALONE or None
FILES: dict[str, str | None] = {
    # The dry run counts changes over all of Slurm's accounts; the grant test's
    # student jobs in its own account.
    "integration/test_allocations.py": "student",
    # Stops the hub and slurmdbd, drops and restores both databases.
    "integration/test_backup_restore.py": ALONE,
    # Private PostgreSQL and MariaDB servers under /tmp, one at a time.
    "integration/test_backup_tools.py": "databases",
    "integration/test_budgets.py": "sme",
    "integration/test_catalog.py": "student",
    "integration/test_cluster.py": None,
    # Logs in trainer, student and sme (hub_user stops their servers).
    "integration/test_courses.py": ALONE,
    "integration/test_dashboards.py": None,
    "integration/test_environments.py": None,
    "integration/test_extend.py": None,
    "integration/test_hub_db_migrate.py": "databases",
    "integration/test_hub_spawn.py": "trainer",
    # A drop-in and two hub restarts; its culler stops everyone's idle sessions.
    "integration/test_idle.py": ALONE,
    # A network namespace of one fixed name.
    "integration/test_network.py": "network",
    # Dask and DDP across nodes as intro-17 and intro-18.
    "integration/test_nodes.py": "nodes",
    "integration/test_progress.py": "student",
    "integration/test_scale_out.py": "intro-13",
    "integration/test_sessions.py": "trainer",
    "integration/test_setup.py": None,
    # Kills every daemon in turn.
    "integration/test_supervision.py": ALONE,
    # One sme session and job for the whole module.
    "integration/test_tenancy.py": "sme",
    "browser/test_budget_widget.py": "sme",
    # Republishes a shipped course, unchanged, to class intro (with the trainer's token
    # only), then runs it as student.
    "browser/test_course.py": "student",
    # The manager's and the student's logins in the browser stop no server.
    "browser/test_dashboards.py": None,
    "browser/test_dask_dashboard.py": "sme",
    "browser/test_dataset_widget.py": "student",
    # A second hub of its own, on free ports.
    "browser/test_oidc_login.py": "oidc",
    "browser/test_portal.py": "trainer",
    "browser/test_session_status.py": "trainer",
    "browser/test_student_session.py": "student",
    # CPU-bound notebooks, each file on a worker of its own: the dashboards' user,
    # workshop accounts of their own.
    "notebooks/test_dashboards.py": "notebooks-dashboards",
    "notebooks/test_scale_out.py": "notebooks-scale-out",
    "notebooks/test_shipped_courses.py": "notebooks-courses",
}

# file::test (the name without parameters) -> group, ALONE or None
TESTS: dict[str, str | None] = {
    # Sets sme-trial's limits with sacctmgr, which others read.
    "integration/test_budgets.py::test_requests_above_the_budget_are_refused_and_warnings_reach_the_home_page": ALONE,
    # Student's and manager's tokens, no session, no job.
    "integration/test_budgets.py::test_a_user_reads_only_their_own_projects_and_bad_parameters_are_400": "student",
    # Logs in student and sme; jobs as both.
    "integration/test_catalog.py::test_users_see_public_data_and_their_projects_only": ALONE,
    "integration/test_catalog.py::test_restricted_data_is_unreadable_on_the_filesystem_and_in_jobs": ALONE,
    "integration/test_catalog.py::test_every_snippet_loads_its_demo_dataset": "sme",
    # GPU-minutes charged to sme-vision, read by the sme group's budget checks.
    "integration/test_cluster.py::test_gpu_job_gets_its_gpus_and_is_charged_to_the_project": "sme",
    # Its pending job's reason and the exact totals of every project.
    "integration/test_dashboards.py::test_ingestion_reads_the_real_cluster_and_numbers_equal_sacct_and_sshare": ALONE,
    "integration/test_dashboards.py::test_only_managers_may_open_the_dashboards": ALONE,  # four users
    "integration/test_dashboards.py::test_the_hub_lists_sessions_only_for_holders_of_read_servers": "student",
    "integration/test_dashboards.py::test_the_classes_route_lists_what_the_caller_may_read": ALONE,
    # Breaks the kernels' environment and restarts the hub.
    "integration/test_environments.py::test_a_broken_kernel_environment_does_not_take_the_hub_down": ALONE,
    "integration/test_extend.py::test_ones_own_session_is_extended_and_the_log_says_who_asked": "trainer",
    "integration/test_extend.py::test_another_users_job_a_batch_job_and_too_much_are_refused": "trainer",
    "integration/test_extend.py::test_more_than_the_budget_pays_for_is_refused": "sme",
    # Drains this machine's node: no GPU job starts meanwhile.
    "integration/test_nodes.py::test_a_session_on_a_namespace_node_answers_through_the_proxy": ALONE,
    # Trainer publishes to class intro; student and sme read.
    "integration/test_progress.py::test_progress_is_the_token_users_own_and_the_trainer_sees_the_class": ALONE,
    "integration/test_scale_out.py::test_requests_beyond_the_rules_are_refused_before_slurm": "student",
    "integration/test_scale_out.py::test_the_api_says_which_partitions_a_project_may_use": "student",
    # The gpu partition DOWN, slurmctld stopped, the hub restarted.
    "integration/test_sessions.py::test_pending_session_shows_the_reason_and_cancel_leaves_no_job": ALONE,
    "integration/test_sessions.py::test_slurmctld_restart_kills_no_session": ALONE,
    "integration/test_sessions.py::test_hub_restart_resumes_running_and_queued_sessions": ALONE,
    # A converge (which also undoes what other tests set), make down and up, both start
    # slots taken.
    "integration/test_setup.py::test_second_converge_changes_nothing": ALONE,
    "integration/test_setup.py::test_down_stops_only_our_daemons_and_keeps_data": ALONE,
    "integration/test_setup.py::test_start_gate_has_a_slot_per_core_that_users_can_lock_but_not_change": ALONE,
    # The gpu partition DOWN for the queue's wait.
    "browser/test_portal.py::test_a_queued_session_the_hub_gives_up_says_why_on_both_pages": ALONE,
    "browser/test_portal.py::test_login_and_error_pages_bear_the_factorys_name_and_a_way_back": "student",
    # A drop-in and two hub restarts.
    "browser/test_session_status.py::test_idle_gpus_are_toasted_in_jupyterlab_and_released_from_there": ALONE,
}


class UnplacedTest(Exception):
    """A test file of the factory's tiers that the plan does not name."""


def place(nodeid: str) -> str | None:
    """Where the test ``nodeid`` (relative to tests/, ``file::name[params]``) runs: its
    group, ALONE, or None (anywhere)."""
    file, _, name = nodeid.partition("::")
    test = f"{file}::{name.split('[')[0]}"
    if test in TESTS:
        return TESTS[test]
    if file not in FILES:
        raise UnplacedTest(
            f"{file} is not in tests/parallel_plan.py: say whether its tests run alone, "
            "in a group (the demo user they act as) or anywhere"
        )
    return FILES[file]
