"""The three packages pass ``mypy --strict``, and the type check of ``make test`` is that strict.

Where an untyped library forces it (flask-wtf's FlaskForm, authlib's base
classes, gunicorn, playhouse, calls peewee-stubs leave unannotated), the line
says so with ``# type: ignore[code]`` and the reason; nothing is relaxed for
a whole module.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["models", "scim_server", "oidc"]


def test_make_test_type_checks_strictly() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert sorted(config["packages"]) == sorted(PACKAGES)


def test_packages_pass_mypy_strict_whatever_the_configuration_says() -> None:
    # no configuration file: a per-module section of pyproject.toml would override --strict,
    # so only the ignores written on their lines can make an exception
    command = [sys.executable, "-m", "mypy", "--config-file", "", "--cache-dir", os.devnull, "--strict",
               "--ignore-missing-imports", "--exclude", "models/migrations/"]
    for package in PACKAGES:
        command += ["-p", package]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
