"""The shipped systemd units and environment file: systemd itself checks the units (systemd-analyze verify, with
the paths pointed at this venv), gunicorn loads the packaged settings the unit names with the shipped
environment, and every variable in the environment file is one the README documents."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = ("l2i.service", "l2i-migrate.service", "l2i-reap.service", "l2i-reap.timer", "l2i-retention.service",
         "l2i-retention.timer")
BIN = Path(sys.executable).parent


def env_file() -> dict[str, str]:
    values = {}
    for line in (SYSTEMD / "l2i.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_environment_file_names_only_documented_variables():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.MULTILINE))
    named = set(env_file()) | set(re.findall(r"^# ?([A-Z0-9_]+)=", (SYSTEMD / "l2i.env").read_text(), re.MULTILINE))
    assert named and named <= documented, named - documented
    assert env_file()["L2I_BIND"] == "127.0.0.1:8000"  # where deploy/nginx/l2i.conf sends requests
    assert "server 127.0.0.1:8000;" in (ROOT / "deploy" / "nginx" / "l2i.conf").read_text()


def test_the_units_run_the_installed_commands():
    service = (SYSTEMD / "l2i.service").read_text()
    assert "ExecStart=/opt/l2i/venv/bin/gunicorn -c python:l2i.gunicorn_conf\n" in service
    assert "EnvironmentFile=/etc/l2i/l2i.env" in service and "Requires=l2i-migrate.service" in service
    assert "ExecStart=/opt/l2i/venv/bin/l2i migrate\n" in (SYSTEMD / "l2i-migrate.service").read_text()
    assert "ExecStart=/opt/l2i/venv/bin/l2i dial reap\n" in (SYSTEMD / "l2i-reap.service").read_text()
    assert "ExecStart=/opt/l2i/venv/bin/l2i retention apply\n" in (SYSTEMD / "l2i-retention.service").read_text()


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (systemd)")
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/opt/l2i/venv/bin", str(BIN))
        (tmp_path / name).write_text(text.replace("/etc/l2i/l2i.env", str(SYSTEMD / "l2i.env")))
    result = subprocess.run([analyze, "verify", *(f"./{name}" for name in UNITS)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    # Unknown keys and bad values are only warnings (exit 0): any output at all fails.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr


def test_gunicorn_loads_the_packaged_settings_with_the_shipped_environment(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env_file()}
    result = subprocess.run([str(BIN / "gunicorn"), "--check-config", "--print-config", "-c",
                             "python:l2i.gunicorn_conf"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))
    assert settings["bind"] == "['127.0.0.1:8000']" and settings["worker_class"] == "l2i.guard.GuardedThreadWorker"
    assert settings["wsgi_app"] == "l2i.app:get_app()" and settings["accesslog"] == "None"
