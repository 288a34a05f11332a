"""Make Slurm accounting match what was granted: the one owner of the projects'
accounts, budgets and members' associations in Slurm.

    validate(grants, readers)                  # ValueError naming the grant and field
    state = read_state(cluster)                # three ``sacctmgr show`` queries
    changes = plan(grants, state, cluster, readers)   # pure: what differs, in order
    apply(changes, cluster)                    # one flat-file load, one command list
    result = reconcile(grants, cluster, readers)      # all of it, then a check
                                               # (reread: what the changes touched)

Each grant is a Slurm account under ``root`` with its budget as
``GrpTRESMins=cpu=<cpu_minutes>,gres/gpu=<gpu_minutes>``, and an association for each
member (a member's first active grant is their default account). Nothing is ever
deleted and no usage is reset, since either loses what was used: an ended grant's
account gets ``GrpSubmitJobs=0`` and a departed member's association
``MaxSubmitJobs=0``; both are lifted again (``-1``) when the grant or the member comes
back. Accounts that no grant names are left alone. Each Slurm reader (site
``slurm.reader``) gets AdminLevel Operator, which lets it see what PrivateData hides,
and one association with ``root`` that may submit no job.

Planning only compares, so a second plan after the first was applied is empty; what a
plan after applying still holds is what Slurm refused. Accounts, budgets and new
associations go to slurmdbd as one flat file (``sacctmgr load``), the few other
changes as command lines to one more sacctmgr: thousands of grants are two processes
and one load, not thousands of commands (a handful of changes go as command lines
only: a load costs more than a few). The check afterwards reads again only what the
changes touched. Every name and description is validated
first, because a line is sacctmgr's to split (on spaces, quotes of either kind) and a
newline would be a command of its own.

Standard library only (and :mod:`aiworkbench.core`): the admin tools run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiworkbench.core import commands, names, slurm

ROOT = "root"  # Slurm's own account, above every grant's; the readers' association
MAX_MINUTES = 10**12
DESCRIPTION_MAX = 200
# Besides letters, digits and spaces. No quotes of either kind (sacctmgr splits its
# lines on them and changes them inside values), no '=' (it ends a keyword) and no line
# break (it starts another command).
DESCRIPTION_PUNCTUATION = ".,:;()/+&-"
CPU, GPU = "cpu", "gres/gpu"  # the TRES of a budget, as sacctmgr names them
BLOCKED, UNBLOCKED = "0", "-1"  # GrpSubmitJobs/MaxSubmitJobs: no job; no limit (clears it)
READER_LEVEL = "Operator"
SACCTMGR = "sacctmgr"
READ_TIMEOUT_S = 60
APPLY_TIMEOUT_S = 120  # for one sacctmgr process running every change ...
APPLY_TIMEOUT_PER_CHANGE_S = 1  # ... and this much more for each of them
# A flat-file load costs slurmdbd about as much as a few commands when it holds few
# changes (it reads the whole association tree: 2.9 s against 0.35 s a command at 10,000
# associations, docs/benchmarks.md), so it is used from this many changes on.
LOAD_FROM = 8
REREAD_NAMES = 200  # checking after applying reads only what was touched, up to this


@dataclass(frozen=True)
class Grant:
    """One project's allocation as the allocation system says it. ``active`` False: it
    ended (past its end date), so its account takes no new job; it is never deleted."""

    account: str  # the Slurm account's name
    description: str
    gpu_minutes: int
    cpu_minutes: int
    members: tuple[str, ...]
    active: bool = True


# --- validation ------------------------------------------------------------------------


def shown(value, limit: int = 40) -> str:
    """``value`` for a message: its repr, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def account_problem(name) -> str | None:
    """Why ``name`` cannot be a grant's account, or None when it can: an account is a
    project, so the project rule holds (:data:`aiworkbench.core.names.PROJECT`)."""
    if not names.PROJECT.ok(name):
        return f"use {names.PROJECT.allowed} (a project's name)"
    if name == ROOT:
        return "it is Slurm's own root account"
    return None


def user_problem(name) -> str | None:
    """Why ``name`` cannot be a Slurm user of a grant, or None when it can."""
    if not names.USER.ok(name):
        return f"use {names.USER.allowed} (a Unix user's name)"
    return None


def description_problem(text) -> str | None:
    """Why ``text`` cannot be an account's description, or None when it can."""
    if not isinstance(text, str):
        return f"it is a {type(text).__name__}, not text"
    if len(text) > DESCRIPTION_MAX:
        return f"it has {len(text)} characters"
    wrong = [c for c in text if not (c.isalnum() or c == " " or c in DESCRIPTION_PUNCTUATION)]
    return f"it has {shown(wrong[0])}" if wrong else None


def slurm_description(text: str) -> str:
    """A project's description as a Slurm account can hold it: what the allocation system
    or the site file says (free text), with each character sacctmgr cannot take as a
    space and cut to ``DESCRIPTION_MAX``. Slurm shows it only as a label."""
    kept = "".join(c if c.isalnum() or c in DESCRIPTION_PUNCTUATION else " " for c in text)
    return " ".join(kept.split())[:DESCRIPTION_MAX].rstrip()


def minutes_problem(value) -> str | None:
    """Why ``value`` cannot be a budget in minutes, or None when it can."""
    if type(value) is not int or not 0 <= value <= MAX_MINUTES:
        return f"not {shown(value)}"
    return None


def check_grant(grant, label: str) -> None:
    """Raise ValueError when one field of ``grant`` is not allowed."""
    why = description_problem(grant.description)
    if why:
        raise ValueError(
            f"{label}: description is not allowed: up to {DESCRIPTION_MAX} "
            f"letters, digits, spaces and {DESCRIPTION_PUNCTUATION} (no quotes, "
            f"'=' or line breaks); {why}"
        )
    for field in ("gpu_minutes", "cpu_minutes"):
        why = minutes_problem(getattr(grant, field))
        if why:
            raise ValueError(
                f"{label}: {field} must be a whole number from 0 to {MAX_MINUTES}, {why}"
            )
    if not isinstance(grant.members, (tuple, list)):
        raise ValueError(
            f"{label}: members must be a list of user names, not {shown(grant.members)}"
        )
    for member in grant.members:
        why = user_problem(member)
        if why:
            raise ValueError(f"{label}: member {shown(member)} is not allowed: {why}")
    if len(set(grant.members)) != len(grant.members):
        twice = next(m for m in grant.members if grant.members.count(m) > 1)
        raise ValueError(f"{label}: member {twice!r} is listed twice")
    if not isinstance(grant.active, bool):
        raise ValueError(f"{label}: active must be true or false, not {shown(grant.active)}")


def check_readers(readers, members: set[str]) -> None:
    """Raise ValueError when a reader's name is not allowed, is root's, or is a member of
    a grant (a reader submits no job)."""
    for reader in readers:
        why = user_problem(reader) or ("it is Slurm's administrator" if reader == ROOT else None)
        if why:
            raise ValueError(f"reader {shown(reader)} is not allowed: {why}")
        if reader in members:
            raise ValueError(
                f"reader {reader!r} is not allowed: it is a member of a grant, "
                f"and a reader may submit no job"
            )


def validate(grants, readers=()) -> None:
    """Raise ValueError, naming the grant and the field and saying what is allowed, when
    a grant (or a reader) could not be given to sacctmgr as it is, or when two grants
    name one account."""
    grants, first = list(grants), {}
    for index, grant in enumerate(grants, 1):
        if not isinstance(grant, Grant):
            raise ValueError(f"grant {index}: not a Grant but {type(grant).__name__}")
        why = account_problem(grant.account)
        if why:
            raise ValueError(f"grant {index}: account {shown(grant.account)} is not allowed: {why}")
        if grant.account in first:
            raise ValueError(
                f"grant {index}: account {grant.account!r} is granted twice "
                f"(grants {first[grant.account]} and {index}); one grant per "
                f"account"
            )
        first[grant.account] = index
        check_grant(grant, f"grant {index} ({grant.account!r})")
    check_readers(readers, {m for grant in grants for m in grant.members})


# --- Slurm's state ---------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """An account's own association on the cluster: its GrpTRESMins (TRES -> minutes;
    a TRES not named has no limit) and GrpSubmitJobs ("" when unset)."""

    budget: dict[str, int]
    grp_submit: str = ""


@dataclass(frozen=True)
class User:
    """A Slurm user: their default account and AdminLevel (None, Operator, ...)."""

    default_account: str
    admin_level: str = "None"


@dataclass(frozen=True)
class SlurmState:
    """What Slurm accounting holds, as far as the grants go: the accounts with an
    association on the cluster (root's too), each user association's MaxSubmitJobs
    ("" when unset) by (user, account), and the users (their default account on the
    cluster: one accounting database may serve several clusters)."""

    accounts: dict[str, Account]
    associations: dict[tuple[str, str], str]
    users: dict[str, User]


def show(run, *what: str, width: int) -> list[list[str]]:
    """The rows of one ``sacctmgr show`` query, ``width`` fields each."""
    argv = [SACCTMGR, "--noheader", "--parsable2", "show", *what]
    return slurm.split_rows(run(argv, timeout=READ_TIMEOUT_S), width)


def names_filter(key: str, names) -> list[str]:
    """A ``sacctmgr show`` condition on ``names`` (none: no condition)."""
    return [f"{key}={','.join(sorted(names))}"] if names is not None else []


def read_state(cluster: str, run=commands.run, accounts=None, users=None) -> SlurmState:
    """Slurm accounting's accounts, user associations and users on ``cluster``, in three
    sacctmgr queries; with ``accounts`` and ``users`` (names), only those accounts, the
    associations of those users with those accounts, and those users (none asked for:
    no query). Raises :class:`commands.CommandError` when sacctmgr fails."""
    found_accounts, associations, found_users = {}, {}, {}
    if accounts is None or accounts:
        found_accounts = {
            name: Account(slurm.parse_tres(tres), submit)
            for name, tres, submit in show(
                run,
                "account",
                "withassoc",
                *names_filter("name", accounts),
                f"cluster={cluster}",
                "user=",
                "format=account,grptresmins,grpsubmit",
                width=3,
            )
        }
    if (accounts is None or accounts) and (users is None or users):
        associations = {
            (user, account): submit
            for user, account, submit in show(
                run,
                "association",
                f"cluster={cluster}",
                *names_filter("account", accounts),
                *names_filter("user", users),
                "format=user,account,maxsubmit",
                width=3,
            )
            if user
        }
    if users is None or users:
        found_users = {
            name: User(default, level)
            for name, default, level in show(
                run,
                "user",
                *names_filter("name", users),
                f"cluster={cluster}",
                "format=user,defaultaccount,adminlevel",
                width=3,
            )
        }
    return SlurmState(found_accounts, associations, found_users)


def touched(changes) -> tuple[set[str], set[str]]:
    """The accounts and users ``changes`` add or modify (an association: both)."""
    accounts, users = set(), set()
    for change in changes:
        verb, what, *rest = change.args
        given = options(rest)
        if what == "account":
            accounts.add(rest[0] if verb == "add" else given["name"])
        else:
            users.update(rest[0].split(",") if verb == "add" else [given["name"]])
            if "account" in given:
                accounts.add(given["account"])
    return accounts, users


def reread(state: SlurmState, changes, cluster: str, run=commands.run) -> SlurmState:
    """``state`` after ``changes`` were given to Slurm: what they touched read again (the
    rest cannot have changed through them), or everything when they touched more than
    :data:`REREAD_NAMES` names, where one full read is quicker than long conditions."""
    accounts, users = touched(changes)
    if len(accounts) + len(users) > REREAD_NAMES:
        return read_state(cluster, run)
    now = read_state(cluster, run, accounts, users)
    return SlurmState(
        {**{k: v for k, v in state.accounts.items() if k not in accounts}, **now.accounts},
        {
            **{
                k: v
                for k, v in state.associations.items()
                if not (k[0] in users and k[1] in accounts)
            },
            **now.associations,
        },
        {**{k: v for k, v in state.users.items() if k not in users}, **now.users},
    )


# --- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One sacctmgr command: ``args`` follow ``sacctmgr --immediate``; ``why`` says in a
    sentence what it changes."""

    args: tuple[str, ...]
    why: str


def budget_tres(grant: Grant) -> str:
    """The grant's budget as GrpTRESMins: both TRES, always (0 is a limit too)."""
    return f"{CPU}={grant.cpu_minutes},{GPU}={grant.gpu_minutes}"


def minutes(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def budget_change(grant: Grant, budget: dict[str, int]) -> str:
    """How ``budget`` (Slurm's) differs from the grant's, in words; "" when it does not."""
    parts = [
        f"{minutes(budget.get(tres))} -> {wanted} {unit}-min"
        for tres, wanted, unit in ((GPU, grant.gpu_minutes, "GPU"), (CPU, grant.cpu_minutes, "CPU"))
        if budget.get(tres) != wanted
    ]
    return ", ".join(parts)


def new_account(grant: Grant, cluster: str) -> Change:
    """The account a grant needs (its description defaults to its name, as sacctmgr's)."""
    args = (
        "add",
        "account",
        grant.account,
        f"cluster={cluster}",
        f"parent={ROOT}",
        f"description={grant.description or grant.account}",
        f"organization={grant.account}",
        f"grptresmins={budget_tres(grant)}",
    )
    why = (
        f"{grant.account}: new account, budget {grant.gpu_minutes} GPU-min and "
        f"{grant.cpu_minutes} CPU-min"
    )
    if not grant.active:
        return Change((*args, f"grpsubmitjobs={BLOCKED}"), f"{why}; ended: no new jobs")
    return Change(args, why)


def account_changes(grant: Grant, state: SlurmState, cluster: str) -> list[Change]:
    """What makes the grant's account match it: created, its budget, blocked or not."""
    account = state.accounts.get(grant.account)
    if account is None:
        return [new_account(grant, cluster)]
    where = ("modify", "account", "where", f"name={grant.account}", f"cluster={cluster}", "set")
    changes = []
    differs = budget_change(grant, account.budget)
    if differs:
        changes.append(
            Change(
                (*where, f"grptresmins={budget_tres(grant)}"), f"{grant.account}: budget {differs}"
            )
        )
    if not grant.active and account.grp_submit != BLOCKED:
        changes.append(
            Change(
                (*where, f"grpsubmitjobs={BLOCKED}"),
                f"{grant.account}: ended, blocked from new jobs",
            )
        )
    elif grant.active and account.grp_submit == BLOCKED:
        changes.append(
            Change(
                (*where, f"grpsubmitjobs={UNBLOCKED}"),
                f"{grant.account}: active again, may submit jobs",
            )
        )
    return changes


def memberships(grants: list[Grant]) -> dict[str, list[Grant]]:
    """Each member's grants, in the grants' order."""
    found: dict[str, list[Grant]] = {}
    for grant in grants:
        for member in grant.members:
            found.setdefault(member, []).append(grant)
    return found


def default_account(theirs: list[Grant]) -> str:
    """A member's default account: their first active grant's, else their first's."""
    return next((g.account for g in theirs if g.active), theirs[0].account)


def add_users(users: list[str], account: str, cluster: str, default: bool) -> Change:
    """One command adding ``users`` to ``account``; ``default``: they are new to Slurm,
    with this as their default account."""
    names = ", ".join(users)
    if default:
        return Change(
            (
                "add",
                "user",
                ",".join(users),
                f"account={account}",
                f"defaultaccount={account}",
                f"cluster={cluster}",
            ),
            f"{account}: new members {names} (new to Slurm; their default account)",
        )
    return Change(
        ("add", "user", ",".join(users), f"account={account}", f"cluster={cluster}"),
        f"{account}: new members {names}",
    )


def member_additions(grants: list[Grant], state: SlurmState, cluster: str) -> list[Change]:
    """The members' missing associations, at most two commands an account. Users new to
    Slurm come first, each added with their default account, so that they exist before
    they join their other grants."""
    defaults = {
        user: default_account(theirs)
        for user, theirs in memberships(grants).items()
        if user not in state.users
    }
    new, more = [], []
    for grant in grants:
        missing = [u for u in grant.members if (u, grant.account) not in state.associations]
        first = [u for u in missing if defaults.get(u) == grant.account]
        rest = [u for u in missing if defaults.get(u) != grant.account]
        if first:
            new.append(add_users(first, grant.account, cluster, default=True))
        if rest:
            more.append(add_users(rest, grant.account, cluster, default=False))
    return new + more


def submit_limits(grants: list[Grant], state: SlurmState, cluster: str, readers) -> list[Change]:
    """Associations with a grant's account: blocked (MaxSubmitJobs=0) for users no longer
    its members (deleting an association would lose its usage), unblocked for members
    again. Readers' associations are not touched."""
    by_account: dict[str, list[tuple[str, str]]] = {}
    for (user, account), limit in state.associations.items():
        if user not in readers:
            by_account.setdefault(account, []).append((user, limit))
    changes = []
    for grant in grants:
        members = set(grant.members)
        for user, limit in by_account.get(grant.account, ()):
            where = (
                "modify",
                "user",
                "where",
                f"name={user}",
                f"account={grant.account}",
                f"cluster={cluster}",
                "set",
            )
            if user not in members and limit != BLOCKED:
                changes.append(
                    Change(
                        (*where, f"maxsubmitjobs={BLOCKED}"),
                        f"{grant.account}: {user} is no longer a member, "
                        f"blocked from new jobs (association kept)",
                    )
                )
            elif user in members and limit == BLOCKED:
                changes.append(
                    Change(
                        (*where, f"maxsubmitjobs={UNBLOCKED}"),
                        f"{grant.account}: {user} is a member again, may submit jobs",
                    )
                )
    return changes


def default_accounts(grants: list[Grant], state: SlurmState, cluster: str) -> list[Change]:
    """Existing users whose default account is not one of their active grants: moved to
    the first of those. Users in no grant, or in ended ones only, are left alone (users
    new to Slurm were added with the right one)."""
    changes = []
    for user, theirs in memberships(grants).items():
        active = [g.account for g in theirs if g.active]
        known = state.users.get(user)
        if known and active and known.default_account not in active:
            changes.append(
                Change(
                    (
                        "modify",
                        "user",
                        "where",
                        f"name={user}",
                        f"cluster={cluster}",
                        "set",
                        f"defaultaccount={active[0]}",
                    ),
                    f"{user}: default account {known.default_account or 'none'} -> {active[0]}",
                )
            )
    return changes


def reader_changes(reader: str, state: SlurmState, cluster: str) -> list[Change]:
    """What makes ``reader`` AdminLevel Operator with one association with root that may
    submit no job."""
    known = state.users.get(reader)
    if known is None:
        return [
            Change(
                (
                    "add",
                    "user",
                    reader,
                    f"account={ROOT}",
                    f"defaultaccount={ROOT}",
                    f"cluster={cluster}",
                    f"adminlevel={READER_LEVEL}",
                    f"maxsubmitjobs={BLOCKED}",
                ),
                f"{reader}: new Slurm reader ({READER_LEVEL}, on {ROOT}, no jobs)",
            )
        ]
    changes = []
    if known.admin_level != READER_LEVEL:
        changes.append(
            Change(
                ("modify", "user", "where", f"name={reader}", "set", f"adminlevel={READER_LEVEL}"),
                f"{reader}: AdminLevel {known.admin_level} -> {READER_LEVEL}",
            )
        )
    limit = state.associations.get((reader, ROOT))
    if limit is None:
        changes.append(
            Change(
                (
                    "add",
                    "user",
                    reader,
                    f"account={ROOT}",
                    f"cluster={cluster}",
                    f"maxsubmitjobs={BLOCKED}",
                ),
                f"{reader}: an association with {ROOT} that submits no job",
            )
        )
    elif limit != BLOCKED:
        changes.append(
            Change(
                (
                    "modify",
                    "user",
                    "where",
                    f"name={reader}",
                    f"account={ROOT}",
                    f"cluster={cluster}",
                    "set",
                    f"maxsubmitjobs={BLOCKED}",
                ),
                f"{reader}: a reader may submit no job",
            )
        )
    return changes


def plan(grants, state: SlurmState, cluster: str, readers=()) -> list[Change]:
    """The changes that make ``state`` match ``grants`` and ``readers`` (validated), in
    the order Slurm needs them: accounts, members, default accounts, readers. Empty when
    it matches. Adds and modifies only."""
    grants, readers = list(grants), tuple(readers)
    changes = [c for grant in grants for c in account_changes(grant, state, cluster)]
    changes += member_additions(grants, state, cluster)
    changes += submit_limits(grants, state, cluster, readers)
    changes += default_accounts(grants, state, cluster)
    changes += [c for reader in readers for c in reader_changes(reader, state, cluster)]
    return changes


# --- applying --------------------------------------------------------------------------


def command_line(change: Change) -> str:
    """``change`` as the line sacctmgr reads: a value with spaces (a description) in
    double quotes, as sacctmgr's own quoting. Refuses what would not stay one
    command's words (a quote or a line break), which validation keeps out."""
    words = []
    for arg in change.args:
        if any(c in "\"'" or (c.isspace() and c != " ") for c in arg):
            raise ValueError(
                f"{shown(arg)} cannot be given to sacctmgr: it has a quote or a line break"
            )
        key, equals, value = arg.partition("=")
        words.append(f'{key}="{value}"' if equals and " " in value else arg)
    return " ".join(words)


def command_lines(changes) -> list[str]:
    """Each change as the line sacctmgr reads."""
    return [command_line(change) for change in changes]


def options(args) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in args if "=" in arg)


def flat_entry(change: Change) -> tuple[str, list[str]] | None:
    """``change`` as entries of a sacctmgr flat file (``sacctmgr load``): the parent they
    go under and their lines; None for a change a flat file does not make (submit
    limits of members, default accounts, readers), which goes as a command line."""
    verb, what, *rest = change.args
    given = options(rest)
    if (verb, what) == ("add", "account"):
        line = (
            f"Account - '{rest[0]}':Description='{given['description']}'"
            f":Organization='{given['organization']}':GrpTRESMins={given['grptresmins']}"
        )
        if "grpsubmitjobs" in given:
            line += f":GrpSubmitJobs={given['grpsubmitjobs']}"
        return given["parent"], [line]
    if (verb, what) == ("modify", "account"):
        values = options(rest[rest.index("set") + 1 :])
        if set(values) != {"grptresmins"}:
            return None
        return ROOT, [f"Account - '{given['name']}':GrpTRESMins={values['grptresmins']}"]
    if (verb, what) == ("add", "user") and set(given) <= {"account", "defaultaccount", "cluster"}:
        default = (
            f":DefaultAccount='{given['defaultaccount']}'" if "defaultaccount" in given else ""
        )
        return given["account"], [f"User - '{user}'{default}" for user in rest[0].split(",")]
    return None


def flat_file(changes, cluster: str) -> tuple[str, list[Change]]:
    """The accounts, budgets and new associations among ``changes`` as one sacctmgr flat
    file, each parent's entries together (root's first, as accounts come before their
    members), and the changes left for command lines. slurmdbd takes a flat file as one
    load, in about a second for hundreds of changes, where each command line costs
    about as much as a whole load."""
    parents: dict[str, list[str]] = {ROOT: []}
    rest = []
    for change in changes:
        entry = flat_entry(change)
        if entry is None:
            rest.append(change)
        else:
            parents.setdefault(entry[0], []).extend(entry[1])
    lines = [f"Cluster - '{cluster}'"]
    for parent, entries in parents.items():
        if entries:
            lines += [f"Parent - '{parent}'", *entries]
    return ("\n".join(lines) + "\n" if len(lines) > 1 else ""), rest


def sacctmgr_input(run, argv, text: str, count: int) -> str:
    """Give ``text`` to one sacctmgr process. It runs every line even when one fails,
    and then exits 1: that is no exception here; what it wrote then (its errors) is
    returned, "" when it exited 0. Raises :class:`commands.CommandError` only when it
    could not be run or did not answer."""
    timeout = APPLY_TIMEOUT_S + APPLY_TIMEOUT_PER_CHANGE_S * count
    try:
        run(argv, input=text, timeout=timeout)
    except commands.CommandError as err:
        if not err.exited:
            raise
        return commands.said(err.stderr or err.stdout) or f"exit status {err.returncode}"
    return ""


def apply(changes, cluster: str, run=commands.run) -> str:
    """Run ``changes``: the accounts, budgets and new associations as one flat file
    (``sacctmgr --immediate load file=/dev/stdin``) when there are :data:`LOAD_FROM` or
    more, then the rest (or all) in one ``sacctmgr --immediate`` process, a command a
    line on its standard input. Returns what sacctmgr said when it refused some (""
    when it took all); which changes it refused is for a new :func:`plan` to say."""
    changes = list(changes)
    text, rest = flat_file(changes, cluster)
    if len(changes) - len(rest) < LOAD_FROM:
        text, rest = "", changes
    said = []
    if text:
        said.append(
            sacctmgr_input(
                run,
                [SACCTMGR, "--immediate", "load", "file=/dev/stdin"],
                text,
                len(changes) - len(rest),
            )
        )
    lines = command_lines(rest)
    if lines:
        said.append(
            sacctmgr_input(run, [SACCTMGR, "--immediate"], "\n".join(lines) + "\n", len(lines))
        )
    return "\n".join(part for part in said if part)


@dataclass(frozen=True)
class Result:
    """What :func:`reconcile` did. ``changes``: what was planned. ``applied``: whether
    they were run (False for a dry run, or when there were none). ``remaining``: what a
    plan still holds afterwards: after applying, the changes Slurm refused (empty when
    all went through); on a dry run, every planned change. ``calls``: sacctmgr
    processes run (3 reads, then 1 or 2 to apply and up to 3 to read again). ``said``: sacctmgr's
    errors when it refused some."""

    grants: int
    changes: tuple[Change, ...]
    applied: bool
    remaining: tuple[Change, ...]
    calls: int
    said: str = ""

    @property
    def refused(self) -> tuple[Change, ...]:
        """The changes Slurm was given and did not take."""
        return self.remaining if self.applied else ()


class CountedRun:
    """``run``, counting the commands it runs."""

    def __init__(self, run):
        self.run, self.calls = run, 0

    def __call__(self, argv, **kwargs):
        self.calls += 1
        return self.run(argv, **kwargs)


def reconcile(grants, cluster: str, readers=(), dry_run: bool = False, run=commands.run) -> Result:
    """Make Slurm accounting on ``cluster`` match ``grants`` and ``readers``: validate,
    read, plan, apply (unless ``dry_run``), read again to see what Slurm took. Raises
    ValueError for a grant that is not allowed (before any sacctmgr), and
    :class:`commands.CommandError` when sacctmgr cannot be run or read."""
    grants, readers = list(grants), tuple(readers)
    if not names.CLUSTER.ok(cluster):
        raise ValueError(f"cluster {shown(cluster)} is not allowed: use {names.CLUSTER.allowed}")
    validate(grants, readers)
    counted = CountedRun(run)
    state = read_state(cluster, counted)
    changes = tuple(plan(grants, state, cluster, readers))
    if dry_run or not changes:
        return Result(len(grants), changes, False, changes if dry_run else (), counted.calls)
    said = apply(changes, cluster, counted)
    after = reread(state, changes, cluster, counted)
    remaining = tuple(plan(grants, after, cluster, readers))
    return Result(len(grants), changes, True, remaining, counted.calls, said if remaining else "")


# --- the outcome, worded ---------------------------------------------------------------


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def listed(changes) -> list[str]:
    """Each change: why, then the sacctmgr line."""
    return [
        f"  {change.why}\n    {SACCTMGR} --immediate {command_line(change)}" for change in changes
    ]


def describe(result: Result) -> str:
    """The outcome in words, for the admin tool: what a dry run would change, what was
    changed, or that Slurm already matched; and what Slurm refused, with its words."""
    grants = plural(result.grants, "grant")
    if not result.changes:
        return f"Slurm already matches the {grants}."
    changes = plural(len(result.changes), "change")
    if not result.applied:
        return "\n".join(
            [f"{changes} to make (dry run, nothing changed):", *listed(result.changes)]
        )
    if not result.refused:
        return "\n".join(
            [f"{changes} made; Slurm now matches the {grants}:", *listed(result.changes)]
        )
    lines = [
        f"{changes} given to Slurm; {plural(len(result.refused), 'change')} still to "
        f"make. Slurm refused:",
        *listed(result.refused),
    ]
    if result.said:
        lines.append("sacctmgr said:\n  " + result.said.replace("\n", "\n  "))
    return "\n".join(lines)


def as_json(result: Result) -> dict:
    """The outcome as plain data: each change's command line and why."""

    def items(changes):
        return [{"command": command_line(c), "why": c.why} for c in changes]

    return {
        "grants": result.grants,
        "applied": result.applied,
        "changes": items(result.changes),
        "refused": items(result.refused),
        "remaining": items(result.remaining),
        "calls": result.calls,
        "said": result.said,
    }
