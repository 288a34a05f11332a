"""The session's server inside its Slurm job: ``aiworkbench-singleuser`` starts
JupyterLab and reports its port (:mod:`.singleuser`); the Jupyter server extension
keeps the students' course copies up to date (:mod:`.extension`)."""
