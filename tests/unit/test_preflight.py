"""Setup's checks before it changes anything."""

import os

from aiworkbench.core.preflight import (
    check_platform,
    check_ports,
    check_secret_files,
    pid_alive,
    port_owned_by,
    preflight,
)
from aiworkbench.core.site import parse_site

from ..conftest import held_port
from .test_site import DEMO, MINIMAL

DEBIAN = {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}


def test_debian_and_derivatives_as_root_pass():
    assert check_platform(DEBIAN, 0) == []
    assert check_platform({"ID": "ubuntu", "ID_LIKE": "debian"}, 0) == []


def test_other_systems_and_non_root_are_refused():
    problems = check_platform({"ID": "fedora", "PRETTY_NAME": "Fedora Linux 40"}, 1000)
    assert "this machine is Fedora Linux 40; setup needs Debian 12" in problems[0]
    assert "must run as root" in problems[1]


def test_a_port_held_by_another_program_is_refused():
    with held_port() as port:
        site = parse_site(MINIMAL + f"\n[hub]\nport = {port}\n")
        problems = check_ports(site, owned=lambda port, pidfile: False)
    assert any(
        f"port {port} (the hub's public port (the proxy)) is already in use" in p
        and "set hub.port in the site file" in p
        for p in problems
    ), problems


def test_ports_held_by_the_workbench_itself_are_fine():
    site = parse_site(MINIMAL)
    assert check_ports(site, in_use=lambda port: True, owned=lambda port, pidfile: True) == []


def test_pid_alive_reads_pidfiles(tmp_path):
    pidfile = tmp_path / "x.pid"
    assert not pid_alive(str(pidfile))
    pidfile.write_text("999999999\n")
    assert not pid_alive(str(pidfile))
    pidfile.write_text(f"{os.getpid()}\n")
    assert pid_alive(str(pidfile))


def test_preflight_collects_platform_and_site_problems(tmp_path):
    bad = tmp_path / "site.toml"
    bad.write_text("[hub]\nport = 0\n")
    problems = preflight(
        str(bad), release={"ID": "arch"}, uid=0, in_use=lambda p: False, owned=lambda p, f: False
    )
    assert any("setup needs Debian 12" in p for p in problems)
    assert any("hub.port: must be at least 1" in p for p in problems)
    assert (
        preflight(
            str(DEMO), release=DEBIAN, uid=0, in_use=lambda p: False, owned=lambda p, f: False
        )
        == []
    )


def test_a_real_listener_is_owned_by_its_process_not_by_another(tmp_path):
    with held_port() as port:
        mine = tmp_path / "me.pid"
        mine.write_text(f"{os.getpid()}\n")
        assert port_owned_by(port, (str(mine),))
        other = tmp_path / "init.pid"
        other.write_text("1\n")
        assert not port_owned_by(port, (str(other),))
        # Any one of the pid files may be the owner (the hub's, or the supervisor's).
        assert port_owned_by(port, (str(other), str(tmp_path / "none.pid"), str(mine)))


def test_a_project_named_like_a_system_group_or_an_account_is_refused():
    import types

    from aiworkbench.core.preflight import check_project_groups
    from aiworkbench.core.site import load_site

    site = load_site(DEMO)
    groups = {"sme-vision": 27, "edu-intro": 1005}  # 27: like Debian's sudo
    accounts = {"sme-trial"}

    def group(name):
        if name not in groups:
            raise KeyError(name)
        return types.SimpleNamespace(gr_gid=groups[name])

    def user(name):
        if name not in accounts:
            raise KeyError(name)

    problems = check_project_groups(site, group, user)
    assert problems == [
        "projects.sme-vision: a system group 'sme-vision' (gid 27) exists; each project "
        "gets a Unix group of its own name for dataset access: rename the project",
        "projects.sme-trial: a Unix user 'sme-trial' exists; its own group would be the "
        "project's group (dataset access): rename the project",
    ]


def test_the_dashboards_port_is_checked_too():
    with held_port() as port:
        site = parse_site(MINIMAL + f"\n[dashboards]\nport = {port}\n")
        problems = check_ports(site, owned=lambda port, pidfile: False)
    assert any(
        f"port {port} (the dashboards service) is already in use" in p
        and "set dashboards.port in the site file" in p
        for p in problems
    ), problems


def test_tls_and_oidc_secret_files_must_be_there(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    text = DEMO.read_text().replace(
        "[hub]\n", f'[hub]\ntls_cert = "{tmp_path}/c.pem"\ntls_key = "{tmp_path}/k.pem"\n'
    )
    site = parse_site(
        text + f'[auth]\ntype = "oidc"\nissuer = "https://id.example.org"\n'
        f'client_id = "hub"\nclient_secret_file = "{secret}"\n'
    )
    problems = check_secret_files(site)
    assert (
        problems[0] == f"hub.tls_cert: {tmp_path}/c.pem is not a file; put the proxy's "
        f"certificate there"
    )
    assert problems[1].startswith("hub.tls_key:")
    assert "readable or writable by everyone (mode 0644)" in problems[2]
    secret.chmod(0o600)
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    assert check_secret_files(site) == []


def test_an_mta_already_on_port_25_is_named_with_the_way_to_use_it():
    site = parse_site(MINIMAL)
    problems = check_ports(site, in_use=lambda port: port == 25, owned=lambda port, pidfiles: False)
    assert problems == [
        "port 25 (exim, the mail of support requests) is already in use by "
        "another program; free it or set mail.relay in the site file"
    ]
    relayed = parse_site(MINIMAL + '\n[mail]\nrelay = "127.0.0.1:25"\n')
    assert (
        check_ports(relayed, in_use=lambda port: port == 25, owned=lambda port, pidfiles: False)
        == []
    )
