"""aiworkbench.session_info() describes the session from its Slurm environment."""

from aiworkbench import session_info


def test_outside_slurm():
    info = session_info({})
    assert info.job_id is None and str(info) == "Not running as a Slurm job."


def test_gpu_session_without_nvidia_devices_is_labelled_simulated():
    info = session_info({"SLURM_JOB_ID": "42", "SLURMD_NODENAME": "vm",
                         "SLURM_JOB_PARTITION": "gpu", "SLURM_JOB_ACCOUNT": "edu-intro",
                         "SLURM_CPUS_PER_TASK": "2", "CUDA_VISIBLE_DEVICES": "0,1"})
    assert info.gpus == ("0", "1")
    assert info.gpu_kind in ("simulated", "nvidia")
    assert "Slurm job 42 on vm (partition gpu, project edu-intro): 2 CPU(s), 2" in str(info)
