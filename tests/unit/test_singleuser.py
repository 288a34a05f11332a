"""The session's server start is lean: a grammar nothing needs at start-up is not compiled."""

import subprocess
import sys

CHECK = """
import sys
from aiworkbench_hub.singleuser import defer_rfc3987_syntax
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
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", CHECK],
                            capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
