"""The notebook's client of the workbench API: one GET, a timeout, clear errors.

Sessions get ``AIWORKBENCH_API_URL`` (the API's base, ``.../services/workbench/api``)
and ``JUPYTERHUB_API_TOKEN`` from the hub; the budget and dataset widgets and
``aiworkbench-budget`` all ask the API through :func:`api_get`.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request


class WorkbenchAPIError(Exception):
    """The API refused (4xx, with its message) or is not configured here."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the API's HTTP status, when it answered


class WorkbenchAPIUnreachable(WorkbenchAPIError):
    """The API did not answer, or failed (5xx): worth retrying."""


class Asker:
    """A widget model's road to the API and its status line: every failure becomes a
    sentence (``status``) and the model keeps what it showed before."""

    def __init__(self, fetch):
        self.fetch = fetch  # api_get, or a stand-in in tests
        self.status_kind, self.status = "info", ""

    def say(self, text: str, kind: str = "info") -> None:
        self.status_kind, self.status = kind, text

    def refused(self, what: str, err: WorkbenchAPIError) -> str:
        """The status line for a refusal (4xx) of ``what``; models may say more."""
        return f"The workbench API refused {what}: {err}"

    def _ask(
        self, what: str, path: str, params: dict | None, expect: str, kind: type = object
    ) -> dict | None:
        """The API's answer (holding ``expect``, of type ``kind``), or None with the status
        line saying why (``what``: the request in words, e.g. "the search")."""
        try:
            answer = self.fetch(path, params)
        except WorkbenchAPIUnreachable as err:
            self.say(
                f"The workbench API did not answer {what} ({err}); what is shown is "
                f"from before. Try again in a moment.",
                "unreachable",
            )
            return None
        except WorkbenchAPIError as err:
            if err.status is None:  # not configured here, or not JSON
                self.say(f"Could not send {what} to the workbench API: {err}", "error")
            else:
                self.say(self.refused(what, err), "error")
            return None
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get(expect), kind)
            or (answer.get(expect) is None)
        ):
            self.say(
                f"The workbench API answered {what} without {expect!r} (is "
                f"AIWORKBENCH_API_URL right?); what is shown is from before.",
                "error",
            )
            return None
        return answer


def _api_message(err: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(err.read() or b"{}").get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    return str(message or err.reason)[:300]


def api_get(
    path: str,
    params: dict[str, str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> dict:
    """The JSON object the API answers to ``GET {AIWORKBENCH_API_URL}/{path}?{params}``.
    ``path`` parts must already be quoted by the caller (``urllib.parse.quote``)."""
    return api_request("GET", path, params, environ=environ, timeout=timeout)


def api_post(
    path: str, payload: dict, *, environ: dict[str, str] | None = None, timeout: float = 10.0
) -> dict:
    """The JSON object the API answers to ``POST {AIWORKBENCH_API_URL}/{path}`` with
    ``payload`` as JSON."""
    return api_request("POST", path, None, payload, environ=environ, timeout=timeout)


def api_request(
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    payload: dict | None = None,
    *,
    environ: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> dict:
    """One request to the API; its JSON object, or :class:`WorkbenchAPIError` (4xx,
    not configured) or :class:`WorkbenchAPIUnreachable` (no answer, 5xx)."""
    env = os.environ if environ is None else environ
    url, token = env.get("AIWORKBENCH_API_URL", "").strip(), env.get("JUPYTERHUB_API_TOKEN", "")
    if not url:
        raise WorkbenchAPIError(
            "AIWORKBENCH_API_URL is not set: the workbench API is "
            "reachable in workbench sessions, where the hub sets it"
        )
    if not token:
        raise WorkbenchAPIError("JUPYTERHUB_API_TOKEN is not set: cannot ask the workbench API")
    url = url.rstrip("/") + "/" + path.lstrip("/")
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {"Authorization": f"token {token}", "Accept": "application/json"}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        message = _api_message(err)
        if err.code >= 500:
            raise WorkbenchAPIUnreachable(f"HTTP {err.code}: {message}", err.code) from None
        raise WorkbenchAPIError(f"{message} (HTTP {err.code})", err.code) from None
    except urllib.error.URLError as err:
        raise WorkbenchAPIUnreachable(str(err.reason)) from None
    except (OSError, http.client.HTTPException) as err:
        raise WorkbenchAPIUnreachable(str(err) or type(err).__name__) from None
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise WorkbenchAPIError(f"{url} did not answer with JSON (is AIWORKBENCH_API_URL right?)")
    return payload
