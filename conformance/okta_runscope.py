"""Okta's SCIM 2.0 spec test (a Runscope export) replayed against a live Roster server.

    python -m conformance.okta_runscope [BASE_URL TOKEN] [--database-url URL] [--honour-pauses]

Without BASE_URL and TOKEN a throwaway server is started (conformance/live_server.py).

Runscope runs each step of the export in order: a request whose ``{{variables}}`` it
fills in, then the step's ``variables`` taken from the response, its ``assertions``, and
its JavaScript ``scripts`` (run here by conformance/runscope_script.js in node, with
Chai's ``assert`` as in Runscope). ``pause`` steps are skipped unless --honour-pauses.

The initial variables are those Okta's instructions have a Runscope user set
(``SCIMBaseURL``, ``auth``) and those its initial script makes (random user names and
emails, an id and an email that match nobody). The test reads the first user of
``GET /Users?count=1`` and expects it to have a name and an email, and ``GET /Groups`` to
list a group, as in any Okta org: unless --no-seed, such a user and group are created
through the SCIM API first.

Every assertion must pass, response-time ones included; the exit status says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import secrets
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from requests.utils import requote_uri

from conformance.live_server import serve

HERE = Path(__file__).resolve().parent
SPEC_TEST = HERE / "data" / "Okta-SCIM-20-SPEC-Test.json"
SCRIPT_RUNNER = HERE / "runscope_script.js"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
VARIABLE = re.compile(r"{{\s*([^{}]+?)\s*}}")
MISSING = object()


class UndefinedVariable(KeyError):
    """A ``{{name}}`` no earlier step nor the initial variables defined: Runscope fails the step."""


@dataclasses.dataclass
class Check:
    step: int
    note: str
    what: str
    passed: bool
    detail: str = ""


def initial_variables(base_url: str, token: str) -> dict[str, str]:
    """What Runscope holds before the first step: the test settings and Okta's initial script."""
    tag = secrets.token_hex(4)
    given, family = _name(), _name()
    username = f"runscope{tag}.{given.lower()}@okta-spec.example"
    return {
        "SCIMBaseURL": base_url.rstrip("/"),
        "auth": f"Bearer {token}",
        "randomUsername": username,
        "randomUsernameCaps": username.upper(),
        # Okta looks a user up by its email before creating it with that email as userName
        "randomEmail": username,
        "randomGivenName": given,
        "randomFamilyName": family,
        "InvalidUserEmail": f"abcdefgh{tag}@okta-spec.example",
        "UserIdThatDoesNotExist": f"010101001010101010{tag}",
    }


def _name() -> str:
    return secrets.choice(string.ascii_uppercase) + "".join(secrets.choice(string.ascii_lowercase) for _ in range(7))


def substitute(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise UndefinedVariable(name)
        return variables[name]

    return VARIABLE.sub(value, text)


def seed(base_url: str, token: str) -> list[str]:
    """A user with a name and a work email, created first so it is ``Resources[0]``, and a group.

    Returns what could not be made (the run goes on: the steps that need it fail).
    """
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    problems = []
    tag = secrets.token_hex(4)
    user: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": f"seeded.{tag}@okta-spec.example", "active": True,
            "name": {"givenName": "Seeded", "familyName": "Person"}, "displayName": "Seeded Person",
            "emails": [{"value": f"seeded.{tag}@okta-spec.example", "type": "work", "primary": True}]}
    group: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": f"Okta spec test group {tag}"}
    for path, body in (("/Users", user), ("/Groups", group)):
        response = requests.post(base_url.rstrip("/") + path, json=body, headers=headers, timeout=30)
        if response.status_code != 201:
            problems.append(f"seeding POST {path} answered {response.status_code}: {response.text[:300]}")
    return problems


def resolve(document: Any, path: str) -> Any:
    """A Runscope property path (``Resources[0].emails.value``); a key applied to a list maps over it."""
    current = document
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return MISSING
            current = current[int(index)]
        elif isinstance(current, list):
            current = [item[key] for item in current if isinstance(item, dict) and key in item]
        elif isinstance(current, dict) and key in current:
            current = current[key]
        else:
            return MISSING
    return current


def _text(value: Any) -> str:
    """A JSON value as Runscope compares it: strings as they are, the rest as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _empty(value: Any) -> bool:
    # false and 0 are values (e.g. changePassword.supported: false); missing, null, "" and [] are not
    return value is MISSING or value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def compare(comparison: str, actual: Any, expected: str | None) -> bool:
    """Runscope's comparisons; an unknown one fails rather than passing unchecked."""
    if comparison == "not_empty":
        return not _empty(actual)
    if comparison == "empty":
        return _empty(actual)
    if actual is MISSING:
        return False
    if comparison == "equal":
        return _text(actual) == (expected or "")
    if comparison == "not_equal":
        return _text(actual) != (expected or "")
    if comparison == "contains":
        if isinstance(actual, list):
            return any(_text(item) == expected for item in actual)
        return expected is not None and expected in _text(actual)
    if comparison == "does_not_contain":
        return not compare("contains", actual, expected)
    if comparison == "has_key":
        return isinstance(actual, dict) and expected in actual
    if comparison == "has_value":
        values = actual if isinstance(actual, list) else [actual]
        if expected is None:  # no value to look for: the property must hold one
            return any(not _empty(item) for item in values)
        return any(_text(item) == expected for item in values)
    if comparison == "is_a_number":
        return _number(actual) is not None and not isinstance(actual, str)
    number, limit = _number(actual), _number(expected)
    if number is None or limit is None:
        return False
    return {
        "equal_number": number == limit,
        "is_less_than": number < limit,
        "is_less_than_or_equal": number <= limit,
        "is_greater_than": number > limit,
        "is_greater_than_or_equal": number >= limit,
    }.get(comparison, False)


def _source(source: str, response: requests.Response, elapsed_ms: float, prop: str | None) -> Any:
    if source == "response_status":
        return response.status_code
    if source == "response_time":
        return elapsed_ms
    if source == "response_text":
        return response.text
    if source == "response_headers":
        return response.headers.get(prop or "", MISSING)
    if source == "response_json":
        try:
            document = response.json()
        except ValueError:
            return MISSING
        return resolve(document, prop or "")
    return MISSING


def run_script(script: str, request: dict[str, Any], response: dict[str, Any],
               variables: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node is not installed")
    job = json.dumps({"script": script, "request": request, "response": response, "variables": variables})
    done = subprocess.run([node, str(SCRIPT_RUNNER)], input=job, capture_output=True, text=True, timeout=60,
                          cwd=HERE)
    if done.returncode != 0:
        return {"passed": False, "error": done.stderr.strip() or f"node exited with {done.returncode}", "logs": [],
                "variables": variables}
    return dict(json.loads(done.stdout))


def _headers(raw: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    headers = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        headers[name] = ", ".join(substitute(str(v), variables) for v in values)
    return headers


def run_step(number: int, step: dict[str, Any], variables: dict[str, str], session: requests.Session) -> list[Check]:
    note = step.get("note", "")
    try:
        method = step["method"]
        url = requote_uri(substitute(step["url"], variables))
        headers = _headers(step.get("headers", {}), variables)
        body = substitute(step["body"], variables) if step.get("body") else None
    except UndefinedVariable as exc:
        return [Check(number, note, "request", False, f"variable '{exc.args[0]}' was not defined")]
    started = time.perf_counter()
    try:
        response = session.request(method, url, headers=headers, data=body.encode() if body else None, timeout=60)
    except requests.RequestException as exc:
        return [Check(number, note, f"{method} {url}", False, str(exc))]
    elapsed_ms = (time.perf_counter() - started) * 1000
    checks = [Check(number, note, f"{method} {url}", True, f"{response.status_code} in {elapsed_ms:.0f} ms")]

    for extracted in step.get("variables", []):
        value = _source(extracted["source"], response, elapsed_ms, extracted.get("property"))
        if value is MISSING or value is None:
            checks.append(Check(number, note, f"variable {extracted['name']}", False,
                                f"{extracted.get('property')} is not in the response: {response.text[:300]}"))
        else:
            variables[extracted["name"]] = _text(value)
            checks.append(Check(number, note, f"variable {extracted['name']}", True, variables[extracted["name"]]))

    for assertion in step.get("assertions", []):
        source, comparison, prop = assertion["source"], assertion["comparison"], assertion.get("property")
        label = " ".join(str(part) for part in (source, prop, comparison, assertion.get("value")) if part)
        try:
            expected = None if assertion.get("value") is None else substitute(str(assertion["value"]), variables)
        except UndefinedVariable as exc:
            checks.append(Check(number, note, label, False, f"variable '{exc.args[0]}' was not defined"))
            continue
        if expected != assertion.get("value"):
            label = f"{label} ({expected})"
        actual = _source(source, response, elapsed_ms, prop)
        passed = compare(comparison, actual, expected)
        shown = "(missing)" if actual is MISSING else _text(actual)[:200]
        checks.append(Check(number, note, label, passed, "" if passed else f"got {shown}"))

    for script in step.get("scripts", []):
        outcome = run_script(script, {"method": method, "url": url, "headers": headers, "body": body or ""},
                             {"status": response.status_code, "reason": response.reason,
                              "headers": {k: [v] for k, v in response.headers.items()}, "body": response.text,
                              "response_time_ms": round(elapsed_ms), "size_bytes": len(response.content)},
                             variables)
        variables.update(outcome["variables"])
        checks.append(Check(number, note, "script", outcome["passed"],
                            outcome["error"] or "; ".join(outcome["logs"])))
    return checks


def replay(base_url: str, token: str, *, spec: Path = SPEC_TEST, seed_first: bool = True,
           pause_scale: float = 0.0) -> tuple[list[Check], list[str]]:
    """Every check of the run, and the problems met while seeding."""
    test = load(spec)
    variables = initial_variables(base_url, token)
    problems = seed(base_url, token) if seed_first else []
    checks: list[Check] = []
    with requests.Session() as session:
        for number, step in enumerate(test["steps"], start=1):
            if step.get("skipped"):
                continue
            if step["step_type"] == "pause":
                time.sleep(float(step.get("duration", 0)) * pause_scale)
                continue
            if step["step_type"] != "request":
                checks.append(Check(number, "", f"step type {step['step_type']}", False, "not supported"))
                continue
            checks.extend(run_step(number, step, variables, session))
    return checks, problems


def declared_checks(test: dict[str, Any]) -> int:
    """What a complete run checks: each request, variable, assertion and script of the export."""
    steps = [s for s in test["steps"] if s["step_type"] == "request" and not s.get("skipped")]
    return sum(1 + len(s.get("variables", [])) + len(s.get("assertions", [])) + len(s.get("scripts", []))
               for s in steps)


def load(spec: Path = SPEC_TEST) -> dict[str, Any]:
    return dict(json.loads(spec.read_text(encoding="utf-8")))


def report_lines(checks: list[Check], problems: list[str], declared: int | None = None,
                 verbose: bool = False) -> list[str]:
    """A summary line, then each failed check (every check when ``verbose``) under its step."""
    failed = [c for c in checks if not c.passed]
    of_declared = f" of the {declared} the test declares" if declared is not None else ""
    lines = [f"okta: {len(checks)} checks (requests, variables, assertions, scripts){of_declared}; "
             f"{len(checks) - len(failed)} passed, {len(failed)} failed"]
    lines += [f"  seeding: {problem}" for problem in problems]
    step = None
    for check in checks if verbose else failed:
        if check.step != step:
            step = check.step
            lines.append(f"  step {check.step}: {check.note.strip()}")
        detail = f": {check.detail}" if check.detail else ""
        lines.append(f"    {'ok  ' if check.passed else 'FAIL'} {check.what}{detail}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", nargs="?", help="the SCIM base URL, e.g. http://127.0.0.1:8000/scim/v2")
    parser.add_argument("token", nargs="?", help="a SCIM token")
    parser.add_argument("--database-url", help="without BASE_URL: the database of the throwaway server")
    parser.add_argument("--no-seed", action="store_true", help="do not create the user and group the test expects")
    parser.add_argument("--honour-pauses", action="store_true", help="wait the 5 s pauses Runscope waits")
    parser.add_argument("--verbose", action="store_true", help="print the passing checks too")
    args = parser.parse_args(argv)
    seed_first, pause_scale = not args.no_seed, 1.0 if args.honour_pauses else 0.0
    if args.base_url and args.token:
        checks, problems = replay(args.base_url, args.token, seed_first=seed_first, pause_scale=pause_scale)
    else:
        with serve(args.database_url) as server:
            checks, problems = replay(server.base_url, server.token, seed_first=seed_first, pause_scale=pause_scale)
    declared = declared_checks(load())
    print("\n".join(report_lines(checks, problems, declared, args.verbose)))
    return 0 if not problems and len(checks) == declared and all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
