"""aiworkbench.session_info() describes the session from its Slurm environment."""

import re

from aiworkbench import session_info


def test_outside_slurm():
    info = session_info({})
    assert info.job_id is None and str(info) == "Not running as a Slurm job."


def test_gpu_session_without_nvidia_devices_is_labelled_simulated():
    info = session_info(
        {
            "SLURM_JOB_ID": "42",
            "SLURMD_NODENAME": "vm",
            "SLURM_JOB_PARTITION": "gpu",
            "SLURM_JOB_ACCOUNT": "edu-intro",
            "SLURM_CPUS_PER_TASK": "2",
            "CUDA_VISIBLE_DEVICES": "0,1",
        }
    )
    assert info.gpus == ("0", "1")
    assert info.gpu_kind in ("simulated", "nvidia")
    assert "Slurm job 42 on vm (partition gpu, project edu-intro): 2 CPU(s), 2" in str(info)


JOB = {
    "SLURM_JOB_ID": "42",
    "SLURMD_NODENAME": "vm",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURM_JOB_ACCOUNT": "edu-intro",
    "SLURM_CPUS_PER_TASK": "2",
    "SLURM_MEM_PER_NODE": "4096",
    "CUDA_VISIBLE_DEVICES": "0",
}


def test_in_a_notebook_it_is_a_small_card_with_memory_and_the_time_left():
    import dataclasses

    asked = []

    def fetch(path, timeout):
        asked.append(path)
        return {
            "projects": [
                {
                    "project": "edu-intro",
                    "jobs": [
                        {"job_id": "41", "time_left_s": 60},
                        {"job_id": "42", "time_left_s": 3300},
                    ],
                }
            ]
        }

    info = dataclasses.replace(session_info(JOB), fetch=fetch)
    card = info._repr_html_()
    text = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    assert re.search(
        r"Job 42 Node vm Partition gpu Project edu-intro Cores 2 Memory 4 GB "
        r"GPUs 1( \(simulated\))? Time left 0 h 55 min \(until \d\d:\d\d\)",
        text,
    ), text
    assert asked == ["budgets/edu-intro"]


def test_when_the_api_does_not_answer_the_card_says_where_to_look():
    import dataclasses

    def fetch(path, timeout):
        raise OSError("unreachable")

    card = dataclasses.replace(session_info(JOB), fetch=fetch)._repr_html_()
    assert "unknown: see the status bar" in card
    assert "Not running as a Slurm job." in session_info({})._repr_html_()
