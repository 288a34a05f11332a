"""The reconciler of grants into Slurm accounting, against an in-memory sacctmgr: the
commands a fresh cluster needs and their order, a second plan that is empty, budgets,
ended grants, departed members, default accounts, readers, what it leaves alone, what
validation refuses, and how many sacctmgr processes it runs."""

import re
import shlex

import pytest

from aiworkbench.allocations import reconcile
from aiworkbench.allocations.reconcile import Account, Grant, SlurmState, User
from aiworkbench.core.commands import CommandError

CLUSTER = "aifactory"
READER = "slurm-reader"
SHOW = ["sacctmgr", "--noheader", "--parsable2", "show"]
QUERIES = {
    (
        "account",
        "withassoc",
        f"cluster={CLUSTER}",
        "user=",
        "format=account,grptresmins,grpsubmit",
    ): "show_accounts",
    ("association", f"cluster={CLUSTER}", "format=user,account,maxsubmit"): "show_associations",
    ("user", f"cluster={CLUSTER}", "format=user,defaultaccount,adminlevel"): "show_users",
}


class FakeSacctmgr:
    """sacctmgr and its database in memory: the three queries the reconciler makes, and
    the add/modify lines it pipes in (each line applied or refused on its own, exit
    status 1 when one was refused, as sacctmgr does). ``refuse``: lines containing one
    of these strings are refused."""

    def __init__(self, refuse=()):
        self.accounts = {"root": {"tres": {}, "grpsubmit": ""}}
        self.associations = {("root", "root"): ""}
        self.users = {"root": {"default": "root", "level": "Administrator"}}
        self.refuse = tuple(refuse)
        self.calls, self.lines = [], []

    # --- the process -------------------------------------------------------------------
    def __call__(self, argv, *, input=None, timeout=None, **kwargs):
        self.calls.append(list(argv))
        assert timeout, "every sacctmgr call has a timeout"
        if argv[:4] == SHOW:
            what = argv[4:]
            wanted = {
                w.split("=")[0]: set(w.split("=")[1].split(","))
                for w in what
                if re.fullmatch(r"(name|account|user)=.+", w)
            }
            query = tuple(w for w in what if not re.fullmatch(r"(name|account|user)=.+", w))
            return getattr(self, QUERIES[query])(**wanted)
        assert argv[:2] == ["sacctmgr", "--immediate"] and input.endswith("\n"), argv
        if argv[2:] == ["load", "file=/dev/stdin"]:
            failed = [line for line in self.flat_lines(input) if not self.run_line(line)]
        else:
            assert argv[2:] == [], argv
            failed = [line for line in input.splitlines() if not self.run_line(line)]
        if failed:
            raise CommandError.failed(argv, 1, "", "\n".join(f" refused: {f}" for f in failed))
        return ""

    def flat_lines(self, text):
        """A flat file's entries as the command lines that make the same changes."""
        lines = text.splitlines()
        assert lines[0] == f"Cluster - '{CLUSTER}'", lines[0]
        parent = None
        for line in lines[1:]:
            kind, _, rest = line.partition(" - ")
            name = re.match(r"'([^']*)'", rest)[1]
            given = {
                k.lower(): v.strip("'") for k, v in re.findall(r":(\w+)=('[^']*'|[^:]*)", rest)
            }
            if kind == "Parent":
                parent = name
            elif kind == "Account" and name not in self.accounts:
                yield shlex.join(
                    [
                        "add",
                        "account",
                        name,
                        f"cluster={CLUSTER}",
                        f"parent={parent}",
                        *(f"{k}={v}" for k, v in given.items()),
                    ]
                )
            elif kind == "Account":
                yield shlex.join(
                    [
                        "modify",
                        "account",
                        "where",
                        f"name={name}",
                        f"cluster={CLUSTER}",
                        "set",
                        *(f"{k}={v}" for k, v in given.items()),
                    ]
                )
            else:
                assert kind == "User", line
                yield shlex.join(
                    [
                        "add",
                        "user",
                        name,
                        f"account={parent}",
                        f"cluster={CLUSTER}",
                        *(f"{k}={v}" for k, v in given.items()),
                    ]
                )

    def run_line(self, line):
        self.lines.append(line)
        words = shlex.split(line)
        assert words[0] in ("add", "modify"), f"never {words[0]}: {line}"
        if any(text in line for text in self.refuse):
            return False
        return getattr(self, f"{words[0]}_{words[1]}")(words[2:])

    # --- queries -----------------------------------------------------------------------
    # name=, account= and user= conditions: only those (sacctmgr's "where").
    def show_accounts(self, name=None):
        return "".join(
            f"{n}|{tres_text(a['tres'])}|{a['grpsubmit']}\n"
            for n, a in self.accounts.items()
            if name is None or n in name
        )

    def show_associations(self, account=None, user=None):
        rows = [
            f"|{name}|\n"
            for name in self.accounts  # the accounts' own rows
            if user is None and (account is None or name in account)
        ]
        rows += [
            f"{u}|{a}|{limit}\n"
            for (u, a), limit in self.associations.items()
            if (account is None or a in account) and (user is None or u in user)
        ]
        return "".join(rows)

    def show_users(self, name=None):
        return "".join(
            f"{n}|{u['default']}|{u['level']}\n"
            for n, u in self.users.items()
            if name is None or n in name
        )

    # --- changes -----------------------------------------------------------------------
    def add_account(self, words):
        name, options = words[0], settings(words[1:])
        if name in self.accounts or options.get("cluster") != CLUSTER:
            return False
        assert options["parent"] == "root" and options["description"]
        self.accounts[name] = {
            "tres": limits(options["grptresmins"]),
            "grpsubmit": options.get("grpsubmitjobs", ""),
        }
        return True

    def add_user(self, words):
        names, options = words[0].split(","), settings(words[1:])
        account = options["account"]
        if account not in self.accounts or options.get("cluster") != CLUSTER:
            return False
        if any((name, account) in self.associations for name in names):
            return False  # "Nothing new added"
        for name in names:
            self.users.setdefault(
                name,
                {
                    "default": options.get("defaultaccount", account),
                    "level": options.get("adminlevel", "None"),
                },
            )
            self.associations[(name, account)] = options.get("maxsubmitjobs", "")
        return True

    def modify_account(self, words):
        where, values = where_set(words)
        account = self.accounts.get(where["name"])
        if account is None or where.get("cluster") != CLUSTER:
            return False
        if "grptresmins" in values:
            account["tres"].update(limits(values["grptresmins"]))
        if "grpsubmitjobs" in values:
            account["grpsubmit"] = unset(values["grpsubmitjobs"])
        return True

    def modify_user(self, words):
        where, values = where_set(words)
        user = self.users.get(where["name"])
        if user is None:
            return False
        if "account" in where:
            key = (where["name"], where["account"])
            if key not in self.associations or set(values) != {"maxsubmitjobs"}:
                return False
            self.associations[key] = unset(values["maxsubmitjobs"])
            return True
        if "defaultaccount" in values:
            if (where["name"], values["defaultaccount"]) not in self.associations:
                return False
            user["default"] = values["defaultaccount"]
        if "adminlevel" in values:
            user["level"] = values["adminlevel"]
        return True


def settings(words):
    return dict(word.split("=", 1) for word in words)


def where_set(words):
    assert words[0] == "where" and "set" in words, words
    at = words.index("set")
    return settings(words[1:at]), settings(words[at + 1 :])


def limits(text):
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def tres_text(tres):
    return ",".join(f"{k}={v}" for k, v in tres.items())


def unset(value):
    return "" if value == "-1" else value


def grant(account, members=(), gpu=100, cpu=1000, active=True, description="A project"):
    return Grant(
        account=account,
        description=description,
        gpu_minutes=gpu,
        cpu_minutes=cpu,
        members=tuple(members),
        active=active,
    )


def planned(grants, fake, readers=()):
    state = reconcile.read_state(CLUSTER, fake)
    return reconcile.command_lines(reconcile.plan(grants, state, CLUSTER, readers))


def applied(grants, fake, readers=()):
    """Reconcile, and check that Slurm took everything and a second plan is empty."""
    result = reconcile.reconcile(grants, CLUSTER, readers=readers, run=fake)
    assert result.refused == ()
    assert planned(grants, fake, readers) == []
    return result


GRANTS = [
    grant(
        "edu-intro",
        ["alice", "bob"],
        gpu=6000,
        cpu=120000,
        description="Intro to AI: the 2027 course",
    ),
    grant("sme-trial", ["bob", "carol"], gpu=10, cpu=0),
    grant("old-proj", ["dave", "carol"], gpu=0, cpu=0, active=False),
]


# --- a fresh cluster -------------------------------------------------------------------


def test_a_fresh_cluster_gets_accounts_then_members_then_the_reader():
    fake = FakeSacctmgr()
    assert planned(GRANTS, fake, [READER]) == [
        "add account edu-intro cluster=aifactory parent=root "
        'description="Intro to AI: the 2027 course" organization=edu-intro '
        "grptresmins=cpu=120000,gres/gpu=6000",
        'add account sme-trial cluster=aifactory parent=root description="A project" '
        "organization=sme-trial grptresmins=cpu=0,gres/gpu=10",
        'add account old-proj cluster=aifactory parent=root description="A project" '
        "organization=old-proj grptresmins=cpu=0,gres/gpu=0 grpsubmitjobs=0",
        # users new to Slurm, each with their default account (an active grant first) ...
        "add user alice,bob account=edu-intro defaultaccount=edu-intro cluster=aifactory",
        "add user carol account=sme-trial defaultaccount=sme-trial cluster=aifactory",
        "add user dave account=old-proj defaultaccount=old-proj cluster=aifactory",
        # ... then into their other grants
        "add user bob account=sme-trial cluster=aifactory",
        "add user carol account=old-proj cluster=aifactory",
        "add user slurm-reader account=root defaultaccount=root cluster=aifactory "
        "adminlevel=Operator maxsubmitjobs=0",
    ]


def test_after_applying_the_plan_slurm_matches_and_a_second_run_changes_nothing():
    fake = FakeSacctmgr()
    result = applied(GRANTS, fake, [READER])
    assert (len(result.changes), result.applied, result.remaining, result.calls) == (
        9,
        True,
        (),
        8,
    )  # 3 reads, a flat file, a command list, 3 reads
    assert fake.accounts["edu-intro"] == {
        "tres": {"cpu": 120000, "gres/gpu": 6000},
        "grpsubmit": "",
    }
    assert fake.accounts["old-proj"]["grpsubmit"] == "0"
    assert {u: fake.users[u]["default"] for u in ("alice", "bob", "carol", "dave")} == {
        "alice": "edu-intro",
        "bob": "edu-intro",
        "carol": "sme-trial",
        "dave": "old-proj",
    }
    assert fake.users[READER] == {"default": "root", "level": "Operator"}
    assert fake.associations[(READER, "root")] == "0"

    again = reconcile.reconcile(GRANTS, CLUSTER, readers=[READER], run=fake)
    assert (again.changes, again.applied, again.calls) == ((), False, 3)
    assert reconcile.describe(again) == "Slurm already matches the 3 grants."


# --- budgets and ended grants ----------------------------------------------------------


def test_a_new_budget_is_one_modify_and_the_usage_is_not_touched():
    fake = FakeSacctmgr()
    applied(GRANTS, fake)
    more = [
        grant(
            "edu-intro",
            ["alice", "bob"],
            gpu=8000,
            cpu=120000,
            description="Intro to AI: the 2027 course",
        ),
        *GRANTS[1:],
    ]
    changes = reconcile.plan(more, reconcile.read_state(CLUSTER, fake), CLUSTER)
    assert [(reconcile.command_line(c), c.why) for c in changes] == [
        (
            "modify account where name=edu-intro cluster=aifactory set "
            "grptresmins=cpu=120000,gres/gpu=8000",
            "edu-intro: budget 6000 -> 8000 GPU-min",
        )
    ]
    applied(more, fake)
    assert fake.accounts["edu-intro"]["tres"] == {"cpu": 120000, "gres/gpu": 8000}


def test_budgets_compare_as_numbers_and_a_missing_limit_is_unlimited():
    state = SlurmState(
        accounts={
            "p1": Account({"cpu": 10, "gres/gpu": 5, "mem": 7}),
            "p2": Account({"gres/gpu": 5}),
        },
        associations={},
        users={},
    )
    changes = reconcile.plan(
        [grant("p1", gpu=5, cpu=10), grant("p2", gpu=5, cpu=0)], state, CLUSTER
    )
    assert [c.why for c in changes] == ["p2: budget unlimited -> 0 CPU-min"]
    assert changes[0].args[-1] == "grptresmins=cpu=0,gres/gpu=5"


def test_an_ended_grant_is_blocked_from_new_jobs_and_unblocked_when_it_comes_back():
    fake = FakeSacctmgr()
    applied([grant("p1", ["alice"])], fake)
    ended = [grant("p1", ["alice"], active=False)]
    assert planned(ended, fake) == [
        "modify account where name=p1 cluster=aifactory set grpsubmitjobs=0"
    ]
    applied(ended, fake)
    assert fake.accounts["p1"]["grpsubmit"] == "0" and ("alice", "p1") in fake.associations
    assert planned([grant("p1", ["alice"])], fake) == [
        "modify account where name=p1 cluster=aifactory set grpsubmitjobs=-1"
    ]
    applied([grant("p1", ["alice"])], fake)
    assert fake.accounts["p1"]["grpsubmit"] == ""


# --- members ---------------------------------------------------------------------------


def test_a_departed_member_is_blocked_not_deleted_and_unblocked_when_back():
    fake = FakeSacctmgr()
    applied([grant("p1", ["alice", "bob"])], fake)
    fewer = [grant("p1", ["alice"])]
    changes = reconcile.plan(fewer, reconcile.read_state(CLUSTER, fake), CLUSTER)
    assert [(reconcile.command_line(c), c.why) for c in changes] == [
        (
            "modify user where name=bob account=p1 cluster=aifactory set maxsubmitjobs=0",
            "p1: bob is no longer a member, blocked from new jobs (association kept)",
        )
    ]
    applied(fewer, fake)
    assert fake.associations[("bob", "p1")] == "0"
    assert planned([grant("p1", ["alice", "bob"])], fake) == [
        "modify user where name=bob account=p1 cluster=aifactory set maxsubmitjobs=-1"
    ]
    applied([grant("p1", ["alice", "bob"])], fake)
    assert fake.associations[("bob", "p1")] == ""
    assert not [line for line in fake.lines if "delete" in line or "usage" in line.lower()]


def test_new_users_get_a_default_account_existing_users_are_only_added():
    fake = FakeSacctmgr()
    applied([grant("p1", ["alice"])], fake)
    assert planned([grant("p1", ["alice"]), grant("p2", ["erin", "alice", "frank"])], fake) == [
        'add account p2 cluster=aifactory parent=root description="A project" '
        "organization=p2 grptresmins=cpu=1000,gres/gpu=100",
        "add user erin,frank account=p2 defaultaccount=p2 cluster=aifactory",
        "add user alice account=p2 cluster=aifactory",
    ]


def test_the_default_account_moves_when_the_old_one_is_no_longer_granted_or_ended():
    fake = FakeSacctmgr()
    applied([grant("p1", ["alice"]), grant("p2", ["alice"])], fake)
    assert fake.users["alice"]["default"] == "p1"
    # p1 no longer granted: its association stays (blocked), the default moves to p2
    assert planned([grant("p2", ["alice"])], fake) == [
        "modify user where name=alice cluster=aifactory set defaultaccount=p2"
    ]
    applied([grant("p2", ["alice"])], fake)
    assert fake.users["alice"]["default"] == "p2"
    # p2 ended, p1 granted again: back to p1; a user in ended grants only is left alone
    again = [grant("p1", ["alice"]), grant("p2", ["alice"], active=False)]
    assert planned(again, fake)[-1] == (
        "modify user where name=alice cluster=aifactory set defaultaccount=p1"
    )
    applied(again, fake)
    assert planned(
        [grant("p1", ["alice"], active=False), grant("p2", ["alice"], active=False)], fake
    ) == ["modify account where name=p1 cluster=aifactory set grpsubmitjobs=0"]


def test_accounts_and_users_no_grant_names_are_left_alone():
    fake = FakeSacctmgr()
    fake.accounts["legacy"] = {"tres": {"cpu": 5}, "grpsubmit": "0"}
    fake.associations[("alice", "legacy")] = ""
    fake.associations[("zoe", "legacy")] = ""
    fake.users["alice"] = {"default": "legacy", "level": "None"}
    fake.users["zoe"] = {"default": "legacy", "level": "None"}
    lines = planned([grant("p1", ["alice"])], fake)
    assert lines == [
        'add account p1 cluster=aifactory parent=root description="A project" '
        "organization=p1 grptresmins=cpu=1000,gres/gpu=100",
        "add user alice account=p1 cluster=aifactory",
        "modify user where name=alice cluster=aifactory set defaultaccount=p1",
    ]
    applied([grant("p1", ["alice"])], fake)
    assert fake.accounts["legacy"] == {"tres": {"cpu": 5}, "grpsubmit": "0"}
    assert fake.associations[("alice", "legacy")] == fake.associations[("zoe", "legacy")] == ""
    assert fake.users["zoe"]["default"] == "legacy"


# --- readers ---------------------------------------------------------------------------


def test_an_existing_reader_is_made_operator_on_root_with_no_jobs_and_never_blocked():
    fake = FakeSacctmgr()
    applied([grant("p1", ["alice"])], fake)
    fake.users[READER] = {"default": "p1", "level": "None"}
    fake.associations[(READER, "p1")] = ""  # from before it was a reader
    assert planned([grant("p1", ["alice"])], fake, [READER]) == [
        "modify user where name=slurm-reader set adminlevel=Operator",
        "add user slurm-reader account=root cluster=aifactory maxsubmitjobs=0",
    ]
    applied([grant("p1", ["alice"])], fake, [READER])
    fake.associations[(READER, "root")] = "5"
    assert planned([grant("p1", ["alice"])], fake, [READER]) == [
        "modify user where name=slurm-reader account=root cluster=aifactory set maxsubmitjobs=0"
    ]
    applied([grant("p1", ["alice"])], fake, [READER])
    assert fake.users[READER]["level"] == "Operator"
    assert fake.associations[(READER, "p1")] == ""  # rule for departed members: not readers


# --- refusals, dry runs, calls ---------------------------------------------------------


def test_what_slurm_refuses_is_what_remains_and_the_others_still_go_through():
    fake = FakeSacctmgr(refuse=["account=sme-trial"])
    result = reconcile.reconcile(GRANTS, CLUSTER, readers=[READER], run=fake)
    assert result.applied and result.calls == 8
    # what a plan still holds after applying: carol came in through old-proj instead
    assert [reconcile.command_line(c) for c in result.refused] == [
        "add user bob,carol account=sme-trial cluster=aifactory",
        "modify user where name=carol cluster=aifactory set defaultaccount=sme-trial",
    ]
    assert ("dave", "old-proj") in fake.associations and READER in fake.users
    text = reconcile.describe(result)
    assert text.startswith(
        "9 changes given to Slurm; 2 changes still to make. Slurm "
        "refused:\n  sme-trial: new members bob, carol\n"
    )
    assert "sacctmgr said:\n  refused: add user carol" in text
    data = reconcile.as_json(result)
    assert len(data["changes"]) == 9 and len(data["refused"]) == 2


def test_a_dry_run_reads_plans_and_writes_nothing():
    fake = FakeSacctmgr()
    result = reconcile.reconcile(GRANTS, CLUSTER, readers=[READER], dry_run=True, run=fake)
    assert (result.applied, result.calls, len(result.changes)) == (False, 3, 9)
    assert result.remaining == result.changes and result.refused == ()
    assert all(call[:4] == SHOW for call in fake.calls) and fake.lines == []
    assert fake.accounts == {"root": {"tres": {}, "grpsubmit": ""}}
    text = reconcile.describe(result)
    assert text.splitlines()[:3] == [
        "9 changes to make (dry run, nothing changed):",
        "  edu-intro: new account, budget 6000 GPU-min and 120000 CPU-min",
        "    sacctmgr --immediate add account edu-intro cluster=aifactory parent=root "
        'description="Intro to AI: the 2027 course" organization=edu-intro '
        "grptresmins=cpu=120000,gres/gpu=6000",
    ]
    assert reconcile.as_json(result)["changes"][2]["why"] == (
        "old-proj: new account, budget 0 GPU-min and 0 CPU-min; ended: no new jobs"
    )


def test_accounts_and_members_go_as_one_flat_file_and_the_rest_as_one_command_list():
    fake = FakeSacctmgr()
    result = reconcile.reconcile(GRANTS, CLUSTER, readers=[READER], run=fake)
    writes = [call for call in fake.calls if call[:4] != SHOW]
    assert writes == [
        ["sacctmgr", "--immediate", "load", "file=/dev/stdin"],
        ["sacctmgr", "--immediate"],
    ]
    assert len(fake.calls) == result.calls == 8
    text, rest = reconcile.flat_file(result.changes, CLUSTER)
    assert text.splitlines()[:3] == [
        "Cluster - 'aifactory'",
        "Parent - 'root'",
        "Account - 'edu-intro':Description='Intro to AI: the 2027 course'"
        ":Organization='edu-intro':GrpTRESMins=cpu=120000,gres/gpu=6000",
    ]
    assert "Parent - 'edu-intro'" in text and "User - 'alice':DefaultAccount='edu-intro'" in text
    assert all(c.args[0] == "modify" or "adminlevel=Operator" in c.args for c in rest), rest
    assert reconcile.describe(result).startswith(
        "9 changes made; Slurm now matches the 3 grants:\n  edu-intro: new account"
    )


def test_one_change_is_one_command_and_only_what_it_touched_is_read_again():
    fake = FakeSacctmgr()
    applied(GRANTS, fake, [READER])
    fake.calls.clear()
    bigger = [
        Grant(**{**g.__dict__, "gpu_minutes": 9000}) if g.account == "edu-intro" else g
        for g in GRANTS
    ]
    result = reconcile.reconcile(bigger, CLUSTER, readers=[READER], run=fake)
    assert [reconcile.command_line(c) for c in result.changes] == [
        "modify account where name=edu-intro cluster=aifactory set "
        "grptresmins=cpu=120000,gres/gpu=9000"
    ]
    writes = [call for call in fake.calls if call[:4] != SHOW]
    assert writes == [["sacctmgr", "--immediate"]]  # a load costs more than one command
    assert fake.calls[-1][4:] == [
        "account",
        "withassoc",
        "name=edu-intro",
        f"cluster={CLUSTER}",
        "user=",
        "format=account,grptresmins,grpsubmit",
    ]
    assert (result.calls, result.refused) == (5, ())  # 3 reads, 1 command, 1 read
    assert fake.accounts["edu-intro"]["tres"]["gres/gpu"] == 9000

    # A change Slurm refuses is still found by the narrow read.
    fake.refuse = ("name=alice",)
    moved = [
        Grant(**{**g.__dict__, "members": ()}) if g.account == "edu-intro" else g for g in bigger
    ]
    result = reconcile.reconcile(moved, CLUSTER, readers=[READER], run=fake)
    assert [reconcile.command_line(c) for c in result.refused] == [
        "modify user where name=alice account=edu-intro cluster=aifactory set maxsubmitjobs=0"
    ]
    assert fake.associations[("bob", "edu-intro")] == "0"


def test_touched_names_the_accounts_and_users_of_the_changes():
    changes = reconcile.plan(
        GRANTS, SlurmState({"root": Account({}, "")}, {}, {}), CLUSTER, [READER]
    )
    accounts, users = reconcile.touched(changes)
    assert accounts == {"root", *(g.account for g in GRANTS)}
    assert users == {READER, *(m for g in GRANTS for m in g.members)}


def test_read_state_makes_three_queries_and_parses_them():
    fake = FakeSacctmgr()
    fake.accounts["p1"] = {"tres": {"cpu": 10, "gres/gpu": 5}, "grpsubmit": "0"}
    fake.associations[("alice", "p1")] = "0"
    fake.users["alice"] = {"default": "p1", "level": "None"}
    state = reconcile.read_state(CLUSTER, fake)
    assert [tuple(call[4:]) for call in fake.calls] == list(QUERIES)
    assert state.accounts == {
        "root": Account({}, ""),
        "p1": Account({"cpu": 10, "gres/gpu": 5}, "0"),
    }
    assert state.associations == {("root", "root"): "", ("alice", "p1"): "0"}
    assert state.users["alice"] == User("p1", "None")


def test_sacctmgr_that_cannot_run_or_does_not_answer_is_an_error():
    def timing_out(argv, **kwargs):
        raise CommandError.timed_out(argv, kwargs["timeout"])

    with pytest.raises(CommandError, match="did not answer"):
        reconcile.apply([reconcile.new_account(grant("p1"), CLUSTER)], CLUSTER, run=timing_out)
    assert reconcile.apply([], CLUSTER, run=timing_out) == ""  # nothing to do: no process


def test_a_plan_over_500_grants_of_20_members_is_about_1000_commands():
    grants = [grant(f"p{i}", [f"u{i}x{j}" for j in range(20)]) for i in range(500)]
    reconcile.validate(grants)
    empty = SlurmState(accounts={"root": Account({})}, associations={}, users={})
    changes = reconcile.plan(grants, empty, CLUSTER)
    assert len(changes) == 1000
    assert sum(c.args[:2] == ("add", "account") for c in changes) == 500
    assert sum(c.args[:2] == ("add", "user") for c in changes) == 500


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grants", "said"),
    [
        ([grant("root")], ["grant 1: account 'root' is not allowed: it is Slurm's own root"]),
        (
            [grant("../x")],
            [
                "grant 1: account '../x' is not allowed: use 1-32 lower-case letters, "
                "digits, '-' or '_', starting with a letter (a project's name)"
            ],
        ),
        ([grant("a;rm -rf")], ["grant 1: account 'a;rm -rf' is not allowed"]),
        ([grant("A")], ["grant 1: account 'A' is not allowed"]),
        ([grant("x" * 33)], ["grant 1: account 'xxxxxxxx", "is not allowed: use 1-32"]),
        (
            [grant("p1"), grant("a" * 300)],
            ["grant 2: account 'aaaaaaaaaa", "aaa... is not allowed"],
        ),
        ([grant("")], ["grant 1: account '' is not allowed"]),
        (
            [grant("p1", ["Alice"])],
            [
                "grant 1 ('p1'): member 'Alice' is not allowed: use 1-32 lower-case letters, "
                "digits, '-' or '_', starting with a letter or '_' (a Unix user's name)"
            ],
        ),
        ([grant("p1", ["bob;reboot"])], ["member 'bob;reboot' is not allowed"]),
        ([grant("p1", ["b" * 33])], ["member 'bbbbbbb"]),
        ([grant("p1", ["bob", "bob"])], ["grant 1 ('p1'): member 'bob' is listed twice"]),
        (
            [grant("p1", description='say "hi"')],
            [
                "grant 1 ('p1'): description is not allowed: up to 200 letters, digits, spaces and "
                ".,:;()/+&- (no quotes, '=' or line breaks); it has '\"'"
            ],
        ),
        ([grant("p1", description="Alice's")], ["description is not allowed", 'it has "\'"']),
        ([grant("p1", description="two\nlines")], ["description is not allowed", "it has '\\n'"]),
        ([grant("p1", description="a=b")], ["description is not allowed", "it has '='"]),
        ([grant("p1", description="x" * 201)], ["description", "it has 201 characters"]),
        (
            [grant("p1", gpu=-1)],
            ["grant 1 ('p1'): gpu_minutes must be a whole number from 0 to 1000000000000, not -1"],
        ),
        ([grant("p1", cpu=10**13)], ["cpu_minutes must be", "not 10000000000000"]),
        ([grant("p1", gpu=True)], ["gpu_minutes must be", "not True"]),
        ([grant("p1", cpu=1.5)], ["cpu_minutes must be", "not 1.5"]),
        ([grant("p1", gpu="100")], ["gpu_minutes must be", "not '100'"]),
        ([Grant("p1", "A project", 1, 1, "alice")], ["members must be a list of user names"]),
        ([grant("p1", active="no")], ["active must be true or false, not 'no'"]),
        (
            [grant("p1"), grant("p2"), grant("p1")],
            ["grant 3: account 'p1' is granted twice (grants 1 and 3); one grant per account"],
        ),
        (["p1"], ["grant 1: not a Grant but str"]),
    ],
)
def test_validation_refuses_what_sacctmgr_must_not_be_given(grants, said):
    with pytest.raises(ValueError) as refused:
        reconcile.validate(grants)
    assert [part for part in said if part not in str(refused.value)] == [], refused.value


def test_validation_accepts_the_names_and_descriptions_sites_use():
    reconcile.validate(
        [
            grant(
                "edu-intro",
                ["_svc", "intro-01", "a"],
                gpu=0,
                cpu=10**12,
                description="Künstliche Intelligenz (2027): R&D, 1/2 + more.",
            ),
            grant("x" * 32, description=""),
        ],
        readers=[READER],
    )


@pytest.mark.parametrize(
    ("readers", "message"),
    [
        (["root"], "reader 'root' is not allowed: it is Slurm's administrator"),
        (["Reader"], "reader 'Reader' is not allowed: use 1-32 lower-case letters"),
        (["alice"], "reader 'alice' is not allowed: it is a member of a grant"),
    ],
)
def test_validation_refuses_readers_that_are_root_bad_names_or_members(readers, message):
    with pytest.raises(ValueError) as refused:
        reconcile.validate([grant("p1", ["alice"])], readers=readers)
    assert message in str(refused.value)


def test_reconcile_validates_before_it_runs_anything():
    fake = FakeSacctmgr()
    with pytest.raises(ValueError, match="account 'root'"):
        reconcile.reconcile([grant("root")], CLUSTER, run=fake)
    with pytest.raises(ValueError, match="cluster 'a b' is not allowed"):
        reconcile.reconcile([grant("p1")], "a b", run=fake)
    assert fake.calls == []


def test_a_line_refuses_what_would_not_stay_one_command():
    assert reconcile.command_line(reconcile.Change(("add", "x", "description=a b"), "")) == (
        'add x description="a b"'
    )
    for bad in ('description=a"b', "description=a'b", "description=a\nshow"):
        with pytest.raises(ValueError, match="cannot be given to sacctmgr"):
            reconcile.command_line(reconcile.Change(("add", "account", bad), ""))


def test_a_free_text_description_becomes_one_slurm_can_hold():
    text = 'Anna\'s "vision" pilot\nphase=2 ' + "x" * 300
    made = reconcile.slurm_description(text)
    assert made.startswith("Anna s vision pilot phase 2 x")
    assert len(made) == reconcile.DESCRIPTION_MAX
    assert reconcile.description_problem(made) is None
    assert reconcile.slurm_description("GPU pilot: vision (SME)") == "GPU pilot: vision (SME)"
