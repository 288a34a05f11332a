#!/usr/bin/python3
"""Ansible module: make Slurm accounting match the site's projects.

Each project becomes an account under ``root`` with
``GrpTRESMins=cpu=<cpu_minutes>,gres/gpu=<gpu_minutes>``; each member gets an
association with it (their first project is their default account). Only what
differs is changed, so a second run reports no change. Accounts and users that
the site no longer names are left alone (removing them would drop history).

Each reader (the Slurm reader, site ``slurm.reader``) gets AdminLevel Operator, so that
it sees what PrivateData hides from users, and one association with ``root`` that may
submit no job (MaxSubmitJobs=0).
"""

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: slurm_associations
short_description: Slurm accounts with GrpTRESMins budgets and their users
options:
  cluster:
    description: Accounting cluster name.
    required: true
    type: str
  projects:
    description: Projects by name, each with description, gpu_minutes, cpu_minutes and members.
    required: true
    type: dict
  readers:
    description: Users who read every job and usage (AdminLevel Operator, no jobs).
    required: false
    type: list
    elements: str
    default: []
"""


def budget_tres(project):
    return f"cpu={project['cpu_minutes']},gres/gpu={project['gpu_minutes']}"


def parse_tres(text):
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


class Sacctmgr:
    def __init__(self, module, cluster):
        self.module = module
        self.cluster = cluster
        self.commands = []

    def show(self, *args):
        rc, out, err = self.module.run_command(
            ["sacctmgr", "--noheader", "--parsable2", "show", *args], check_rc=False)
        if rc != 0:
            self.module.fail_json(msg=f"sacctmgr show {' '.join(args)} failed: {err.strip()}")
        return [line.split("|") for line in out.splitlines() if line]

    def change(self, *args):
        self.commands.append(["sacctmgr", "--immediate", *args])
        if self.module.check_mode:
            return
        rc, out, err = self.module.run_command(["sacctmgr", "--immediate", *args], check_rc=False)
        if rc != 0:
            self.module.fail_json(msg=f"sacctmgr {' '.join(args)} failed: {(err or out).strip()}",
                                  commands=self.commands)


def sync_accounts(mgr, cluster, projects):
    """Each project an account under root, with its budget as GrpTRESMins."""
    accounts = {row[0]: row[1] for row in mgr.show(
        "account", "withassoc", f"cluster={cluster}", "user=", "format=account,grptresmins")
        if row[0] != "root"}
    for name, project in projects.items():
        wanted = parse_tres(budget_tres(project))
        if name not in accounts:
            mgr.change("add", "account", name, f"cluster={cluster}", "parent=root",
                       f"description={project['description']}", f"organization={name}",
                       f"grptresmins={budget_tres(project)}")
        elif parse_tres(accounts[name]) != wanted:
            mgr.change("modify", "account", "where", f"name={name}", f"cluster={cluster}",
                       "set", f"grptresmins={budget_tres(project)}")


def memberships_of(projects):
    """Each member's projects, in the site's order (the first is the default account)."""
    memberships = {}
    for name, project in projects.items():
        for member in project["members"]:
            memberships.setdefault(member, []).append(name)
    return memberships


def sync_members(mgr, cluster, projects, existing):
    """An association for each member with each of their projects, and a default
    account that is one of them."""
    users = {row[0]: row[1] for row in mgr.show("user", "format=user,defaultaccount")}
    for user, accts in memberships_of(projects).items():
        for acct in accts:
            if (user, acct) in existing:
                continue
            if user not in users:
                mgr.change("add", "user", user, f"account={acct}", f"defaultaccount={accts[0]}",
                           f"cluster={cluster}")
                users[user] = accts[0]
            else:
                mgr.change("add", "user", user, f"account={acct}", f"cluster={cluster}")
        if users.get(user) not in accts:
            mgr.change("modify", "user", "where", f"name={user}", "set",
                       f"defaultaccount={accts[0]}")


def sync_readers(mgr, cluster, readers, existing):
    """Each reader AdminLevel Operator, with an association with root that may submit
    no job."""
    levels = {row[0]: row[1] for row in mgr.show("user", "format=user,adminlevel")}
    for reader in readers:
        if reader not in levels:
            mgr.change("add", "user", reader, "account=root", "defaultaccount=root",
                       f"cluster={cluster}", "adminlevel=Operator", "maxsubmitjobs=0")
        elif levels[reader] != "Operator":
            mgr.change("modify", "user", "where", f"name={reader}", "set",
                       "adminlevel=Operator")
        if (reader, "root") in existing:
            limit = mgr.show("association", f"cluster={cluster}", f"user={reader}",
                             "account=root", "format=maxsubmit")
            if limit and limit[0][0] != "0":
                mgr.change("modify", "user", "where", f"name={reader}", "account=root",
                           f"cluster={cluster}", "set", "maxsubmitjobs=0")


def main():
    module = AnsibleModule(
        argument_spec={"cluster": {"type": "str", "required": True},
                       "projects": {"type": "dict", "required": True},
                       "readers": {"type": "list", "elements": "str", "default": []}},
        supports_check_mode=True,
    )
    cluster = module.params["cluster"]
    projects = module.params["projects"]
    mgr = Sacctmgr(module, cluster)

    sync_accounts(mgr, cluster, projects)
    # The associations as they were before members were added (the readers' check too).
    existing = {(row[0], row[1]) for row in mgr.show(
        "association", f"cluster={cluster}", "format=user,account") if row[0]}
    sync_members(mgr, cluster, projects, existing)
    sync_readers(mgr, cluster, module.params["readers"], existing)

    module.exit_json(changed=bool(mgr.commands), commands=mgr.commands)


if __name__ == "__main__":
    main()
