"""The notebook-session spawner: batchspawner's SlurmSpawner, made safe.

For now this stays close to the stock SlurmSpawner (issue #3 replaces it with
the workbench's own spawner). What it changes already:

* user options go through :func:`parse_user_options` and only the validated
  request reaches the batch script (stock batchspawner merges raw
  ``user_options`` into the template);
* commands run as argument lists, never through a shell;
* the job is charged to the chosen project (``--account``) and the script puts
  the workbench environment first on PATH.
"""

from __future__ import annotations

import asyncio
import html
import shlex

from batchspawner import SlurmSpawner
from jupyterhub.spawner import SpawnException
from traitlets import Any, Unicode, default

from .session_request import RequestError, SessionRequest, parse_user_options

BATCH_SCRIPT = """#!/bin/bash
#SBATCH --job-name=jupyter-{{username}}
#SBATCH --output={{homedir}}/.jupyter-session-%j.log
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --partition={{partition}}
#SBATCH --account={{account}}
#SBATCH --time={{runtime}}
#SBATCH --cpus-per-task={{nprocs}}
#SBATCH --mem={{memory}}
{% if gres %}#SBATCH --gres={{gres}}
{% endif %}
set -euo pipefail
export PATH={{env_dir}}/bin:$PATH
{{srun}} {{cmd}}
"""


class SlurmSessionSpawner(SlurmSpawner):
    """Notebook sessions as Slurm jobs, from validated site profiles."""

    site = Any(help="The validated site (aiworkbench_hub.site.Site); set by apply_site.").tag(
        config=True)
    req_env_dir = Unicode(
        "/opt/aiworkbench/env",
        help="Python environment of notebook sessions; its bin/ goes first on PATH in the job.",
    ).tag(config=True)
    gpu_kind = Unicode(
        "simulated",
        help="'nvidia' or 'simulated': how GPUs are labelled in the form.",
    ).tag(config=True)

    batch_script = Unicode(BATCH_SCRIPT, help="Template of the session's batch script.").tag(
        config=True)
    exec_prefix = Unicode(
        "sudo -u {username}",
        help="Prefix of Slurm commands: sudo as the user. The environment the job needs "
             "passes through sudoers' env_keep, not sudo -E.",
    ).tag(config=True)

    request: SessionRequest | None = None

    @default("options_form")
    def _options_form_default(self):
        return self.render_form

    def render_form(self, spawner=None) -> str:
        site = self.site
        gpu_note = " (simulated)" if self.gpu_kind == "simulated" else ""
        profiles = "".join(
            f'<option value="{html.escape(name)}">{html.escape(name)}: '
            f'{html.escape(p.description)}{gpu_note if p.gpus else ""}</option>'
            for name, p in site.profiles.items())
        projects = "".join(
            f'<option value="{html.escape(name)}">{html.escape(name)}: '
            f'{html.escape(site.projects[name].description)}</option>'
            for name in site.projects_of(self.user.name))
        return (f'<label for="profile">Session profile</label>'
                f'<select class="form-control" name="profile" id="profile">{profiles}</select>'
                f'<label for="project">Project (charged for the session)</label>'
                f'<select class="form-control" name="project" id="project">{projects}</select>')

    def options_from_form(self, formdata):
        return {key: values[0] for key, values in formdata.items() if values}

    @default("apply_user_options")
    def _apply_user_options_default(self):
        # JupyterHub >= 5.3 calls this before start(): refusals become HTTP 400
        # with their message, for the form and the REST API alike.
        return lambda spawner, options: spawner.apply_request(spawner.validated_request(options))

    def validated_request(self, options=None) -> SessionRequest:
        options = self.user_options if options is None else options
        try:
            return parse_user_options(options or {}, self.site, self.user.name)
        except RequestError as err:
            raise SpawnException(str(err), reason="invalid-options") from None

    def apply_request(self, request: SessionRequest) -> None:
        """Set the batch script's values from a validated request (and only from it)."""
        self.request = request
        self.req_partition = request.partition
        self.req_account = request.project
        self.req_nprocs = str(request.cpus)
        self.req_memory = f"{request.memory_gb}G"
        self.req_runtime = f"{request.hours}:00:00"
        self.req_gres = f"gpu:{request.gpus}" if request.gpus else ""

    async def start(self):
        self.apply_request(self.validated_request())
        return await super().start()

    async def submit_batch_script(self):
        """Submit with validated values only (no raw user_options in the template)."""
        subvars = self.get_req_subvars()
        cmd = " ".join((self.exec_prefix.format(**subvars),
                        self.batch_submit_cmd.format(**subvars)))
        subvars["cmd"] = self.cmd_formatted_for_batch()
        script = await self._get_batch_script(**subvars)
        self.log.info("Submitting session job for %s: %s", self.user.name, cmd)
        out = await self.run_command(cmd, input=script, env=self.get_env())
        self.job_id = self.parse_job_id(out)
        return self.job_id

    def cmd_formatted_for_batch(self):
        return shlex.join([self.batchspawner_singleuser_cmd, *self.cmd, *self.get_args()])

    async def run_command(self, cmd, input=None, env=None):
        """Run a command as an argument list; raise with its error output on failure."""
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(cmd), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(input.encode() if input else None)
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip()
            self.log.error("%s exited with %s: %s", cmd, proc.returncode, message)
            raise RuntimeError(message or f"{cmd} exited with {proc.returncode}")
        return out.decode(errors="replace").strip()
