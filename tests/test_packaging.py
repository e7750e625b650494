"""The three packages import from this repository, and dependencies point one way."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["models", "scim_server", "oidc"])
def test_package_resolves_inside_this_repository(name):
    # "models" is a generic name another installed distribution could shadow
    module = __import__(name)
    assert pathlib.Path(module.__file__).resolve().parent == ROOT / name


def _imports(package: str) -> set[str]:
    return set().union(*(_imports_of(path) for path in (ROOT / package).rglob("*.py")))


def test_models_is_plain_python():
    forbidden = {"flask", "authlib", "scim2_models", "werkzeug", "scim_server", "oidc", "requests"}
    assert not _imports("models") & forbidden


def test_protocol_packages_never_import_each_other():
    # only the composition root (scim_server/app.py) may wire the OIDC blueprint in
    assert "scim_server" not in _imports("oidc")
    for path in (ROOT / "scim_server").rglob("*.py"):
        if path.name != "app.py":
            assert "oidc" not in _imports_of(path), path


def _imports_of(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_nothing_reads_beside_the_repository():
    # a clone has nothing beside it: test data lives in the repository (conformance/data)
    outside = re.compile(r"\.\./shared|/\s*[\"']shared[\"']|[\"']shared[\"']\s*/")
    readers = [ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder in ("models", "scim_server", "oidc", "tests", "conformance"):
        readers += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".js", ".sh", ".json"}
                    and "node_modules" not in p.parts and p != pathlib.Path(__file__).resolve()]
    assert [str(p) for p in readers if outside.search(p.read_text(errors="replace"))] == []
