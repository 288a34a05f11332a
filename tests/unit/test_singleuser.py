"""The session's server start is lean: a grammar nothing needs at start-up is not compiled."""

import os
import socket
import subprocess
import sys
import time

CHECK = """
import sys
from aiworkbench.jobserver.singleuser import defer_rfc3987_syntax
defer_rfc3987_syntax()
import jsonschema, jupyter_events  # what jupyter_server imports at start-up
assert "rfc3987_syntax.syntax_helpers" not in sys.modules, "compiled at start-up"
stand_in = sys.modules["rfc3987_syntax"]
checker = jsonschema.FormatChecker()
assert checker.conforms("https://example.org/a?b=c", "iri")
assert not checker.conforms("no iri: spaces here", "iri")  # the real check, loaded now
assert "rfc3987_syntax.syntax_helpers" in sys.modules
import rfc3987_syntax
assert rfc3987_syntax.is_valid_syntax("iri", "https://example.org/")
assert stand_in.parse("iri", "https://example.org/")  # other names reach the real module
print("ok")
"""


def test_rfc3987_grammar_loads_on_first_use_and_checks_the_same():
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHECK], capture_output=True, text=True
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_start_slots_let_one_server_per_slot_start_and_release_when_listening(tmp_path):
    from aiworkbench.jobserver import singleuser

    assert singleuser.take_start_slot(str(tmp_path / "missing"), wait=0.1) is None  # no gate
    for i in range(2):
        (tmp_path / f"slot-{i}").write_text("")
        (tmp_path / f"slot-{i}").chmod(0o444)
    (tmp_path / "notes").write_text("")  # not a slot
    first = singleuser.take_start_slot(str(tmp_path), wait=0.1)
    second = singleuser.take_start_slot(str(tmp_path), wait=0.1)
    assert first is not None and second is not None
    started = time.monotonic()
    assert singleuser.take_start_slot(str(tmp_path), wait=0.3) is None  # full: gives up
    assert time.monotonic() - started >= 0.3

    # Another process waits for a slot until this one's server listens: it gets one only
    # after the release (the order of the two moments, not how long it waited).
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, sys; from aiworkbench.jobserver.singleuser import "
            "take_start_slot; fd = take_start_slot(sys.argv[1], 10); "
            "print(fd is not None, time.time())",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        released = time.time()
        assert singleuser.started(server.getsockname()[1], first)  # frees the slot
    out = waiter.communicate(timeout=20)[0].split()
    assert out[0] == "True" and float(out[1]) >= released, (out, released)
    os.close(second)
