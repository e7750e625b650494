"""Microsoft's SCIM reference test collection, run by newman against a live Roster server.

    python -m conformance.newman_check [BASE_URL TOKEN] [--database-url URL]

BASE_URL is the SCIM base URL `roster init` prints (``http://127.0.0.1:8000/scim/v2``) and
TOKEN a SCIM token of a *fresh* account: the collection counts users and expects an empty
directory at the end. Without them, a throwaway server is started (conformance/live_server.py)
on a temporary SQLite file, or on --database-url. newman is installed with
``npm ci --prefix conformance``.

The shared collection is never edited: the run uses a copy without the "Get Token" folder
(Roster's tokens come from `roster token create`) and with its ``/serviceConfiguration``
URL pointed at ``/ServiceProviderConfig`` (RFC 7644 §4), the endpoint it means.

Every failed assertion is printed; the ones README.md lists as expected failures (each
with the reason the collection is wrong) are marked as such. The exit status is 0 only
when every other assertion passed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.live_server import serve

HERE = Path(__file__).resolve().parent
COLLECTION = HERE / "data" / "SCIMReferenceCode_PostmanCollection.json"
README = HERE / "README.md"
NEWMAN = HERE / "node_modules" / ".bin" / "newman"
SKIPPED_FOLDERS = {"Get Token"}
RENAMED_ENDPOINTS = {"serviceConfiguration": "ServiceProviderConfig"}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One assertion (or a script error, named after it) of one request."""

    folder: str
    request: str
    assertion: str
    passed: bool
    message: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.folder, self.request, self.assertion)


def prepare_collection(source: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A runnable copy of the collection and, for each request id, its folder."""
    collection = copy.deepcopy(source)
    collection["item"] = [item for item in collection["item"] if item.get("name") not in SKIPPED_FOLDERS]
    folders: dict[str, str] = {}
    counter = 0

    def visit(items: list[dict[str, Any]], folder: str) -> None:
        nonlocal counter
        for item in items:
            if "item" in item:
                visit(item["item"], item["name"])
                continue
            counter += 1
            item["id"] = f"request-{counter}"
            folders[item["id"]] = folder
            url = item["request"]["url"]
            if isinstance(url, dict):
                url["path"] = [RENAMED_ENDPOINTS.get(part, part) for part in url.get("path", [])]
                url["raw"] = _rename_in_raw(url.get("raw", ""))
            else:
                item["request"]["url"] = _rename_in_raw(url)

    visit(collection["item"], "")
    return collection, folders


def declared_assertions(collection: dict[str, Any]) -> int:
    """How many ``pm.test(`` the requests' scripts hold: each run must report that many assertions."""
    total = 0
    for item in collection["item"]:
        if "item" in item:
            total += declared_assertions(item)
            continue
        for event in item.get("event", []):
            total += sum(line.count("pm.test(") for line in event.get("script", {}).get("exec", []))
    return total


def _rename_in_raw(raw: str) -> str:
    for old, new in RENAMED_ENDPOINTS.items():
        raw = re.sub(rf"/{old}(?=$|[/?#])", f"/{new}", raw)
    return raw


def environment(base_url: str, token: str) -> dict[str, Any]:
    """The collection's variables: {{Protocol}}://{{Server}}{{Port}}/{{Api}} and {{token}}."""
    parts = urlsplit(base_url.rstrip("/"))
    values = {
        "Protocol": parts.scheme,
        "Server": parts.hostname or "",
        "Port": f":{parts.port}" if parts.port else "",
        "Api": parts.path.lstrip("/"),
        "token": token,
    }
    return {"name": "roster", "values": [{"key": k, "value": v, "enabled": True} for k, v in values.items()]}


def newman_command() -> list[str]:
    """newman from conformance/node_modules (``npm ci --prefix conformance``); no global install."""
    if not NEWMAN.exists():
        raise FileNotFoundError(f"{NEWMAN} is missing: run 'npm ci --prefix conformance'")
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node is not installed")
    return [node, str(NEWMAN.resolve())]


def run_newman(base_url: str, token: str, workdir: Path, timeout: float = 600) -> tuple[dict[str, Any], str]:
    """Run the collection; returns newman's JSON report and its console output."""
    source = json.loads(COLLECTION.read_text(encoding="utf-8"))
    collection, folders = prepare_collection(source)
    collection_file = workdir / "collection.json"
    environment_file = workdir / "environment.json"
    report_file = workdir / "newman-report.json"
    collection_file.write_text(json.dumps(collection), encoding="utf-8")
    environment_file.write_text(json.dumps(environment(base_url, token)), encoding="utf-8")
    command = [*newman_command(), "run", str(collection_file), "--environment", str(environment_file),
               "--reporters", "cli,json", "--reporter-json-export", str(report_file),
               "--disable-unicode", "--color", "off", "--timeout-request", "30000"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not report_file.exists():
        raise RuntimeError(f"newman wrote no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    report["_folders"] = folders
    report["_declared_assertions"] = declared_assertions(collection)
    return report, done.stdout + done.stderr


def outcomes(report: dict[str, Any]) -> list[Outcome]:
    """Every assertion of the run, and every script or request error as a failed one."""
    folders: dict[str, str] = report.get("_folders", {})
    found: list[Outcome] = []
    for execution in report["run"]["executions"]:
        item = execution.get("item", {})
        folder, name = folders.get(item.get("id", ""), ""), item.get("name", "")
        for assertion in execution.get("assertions", []):
            error = assertion.get("error")
            found.append(Outcome(folder, name, assertion["assertion"], error is None,
                                 (error or {}).get("message", "")))
        if execution.get("requestError"):
            found.append(Outcome(folder, name, "(request error)", False,
                                 str(execution["requestError"].get("message", execution["requestError"]))))
    for failure in report["run"].get("failures", []):
        error, source = failure.get("error", {}), failure.get("source", {})
        at = str(failure.get("at", ""))
        if at.startswith("assertion") or at == "request":
            continue  # counted above, with its assertion or as the execution's request error
        folder = folders.get(source.get("id", ""), "")
        found.append(Outcome(folder, source.get("name", ""), f"({failure.get('at', 'script')} error)", False,
                             f"{error.get('name', '')}: {error.get('message', '')}"))
    return found


def expected_failures(readme: Path = README) -> dict[tuple[str, str, str], str]:
    """The table of README.md's "newman: expected failures" section: (folder, request, assertion) → reason."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<!-- newman-expected-failures:start"))
    end = next(i for i, line in enumerate(lines) if line.startswith("<!-- newman-expected-failures:end"))
    expected: dict[tuple[str, str, str], str] = {}
    for line in lines[start + 1 : end]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] == "folder" or set(cells[0]) <= {"-", ":"}:
            continue  # not a row, the header or the rule under it
        folder, request, assertion, reason = (_unquote(cell) for cell in cells)
        expected[(folder, request, assertion)] = reason
    return expected


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def summarise(found: list[Outcome], expected: dict[tuple[str, str, str], str]) -> tuple[list[Outcome], list[str]]:
    """(unexpected failures, expected failures that passed or never ran)."""
    unexpected = [o for o in found if not o.passed and o.key not in expected]
    failed_keys = {o.key for o in found if not o.passed}
    stale = [" / ".join(key) for key in expected if key not in failed_keys]
    return unexpected, stale


def report_lines(found: list[Outcome], expected: dict[tuple[str, str, str], str]) -> list[str]:
    unexpected, stale = summarise(found, expected)
    passed = sum(o.passed for o in found)
    failed = [o for o in found if not o.passed]
    errors = sum(o.assertion.startswith("(") for o in found)
    lines = [f"newman: {len(found) - errors} assertions and {errors} script/request errors; {passed} passed, "
             f"{len(failed)} failed ({len(failed) - len(unexpected)} expected, {len(unexpected)} unexpected)"]
    for o in failed:
        mark = "expected" if o.key in expected else "FAILED  "
        lines.append(f"  {mark} {o.folder} / {o.request} / {o.assertion}: {o.message}")
    for key in stale:
        lines.append(f"  STALE    {key}: listed as an expected failure in README.md but did not fail")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", nargs="?", help="the SCIM base URL, e.g. http://127.0.0.1:8000/scim/v2")
    parser.add_argument("token", nargs="?", help="a SCIM token of a fresh account")
    parser.add_argument("--database-url", help="without BASE_URL: the database of the throwaway server")
    parser.add_argument("--keep", metavar="DIR", help="write the collection copy and newman's report here")
    parser.add_argument("--verbose", action="store_true", help="print newman's own console report too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.keep or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.base_url and args.token:
            report, console = run_newman(args.base_url, args.token, workdir)
        else:
            with serve(args.database_url) as server:
                report, console = run_newman(server.base_url, server.token, workdir)
    if args.verbose:
        print(console)
    found, expected = outcomes(report), expected_failures()
    print("\n".join(report_lines(found, expected)))
    unexpected, stale = summarise(found, expected)
    ran = sum(not o.assertion.startswith("(") for o in found)
    if ran != report["_declared_assertions"]:
        print(f"newman ran {ran} assertions of the {report['_declared_assertions']} the collection declares")
        return 1
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
