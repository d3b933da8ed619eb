"""l2i as an operator installs it: an sdist and a wheel built from a copy of the tree, the wheel installed into a
fresh venv outside the work tree, which migrates a scratch database and answers a POST through gunicorn with the
packaged settings (`gunicorn -c python:l2i.gunicorn_conf`, as deploy/systemd/l2i.service runs it).

Once, `pip install .` gave an l2i without sql/: `l2i migrate` said "nothing to apply" and every request failed.
To stay fast, the fresh venv has no pip and no copies of the dependencies: the test venv's pip installs the wheel
into it (--no-deps, --no-index), and a .pth file lends it the test venv's site-packages for falcon, psycopg, ...;
the l2i it imports is the one in its own site-packages (checked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from gunicorn_server import free_port
from l2i.migrate import migrations
from l2i.sql import SQLNotFound, find_sql_dir
from tests.conftest import BASE_URL, QUICKSTART_LEAD, drop_database

ROOT = Path(__file__).resolve().parent.parent
SQL_FILES = sorted(str(p.relative_to(ROOT / "sql")) for p in (ROOT / "sql").rglob("*") if p.is_file())


def run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def build(backend_hook: str, source: Path, out: Path) -> Path:
    """Call setuptools' PEP 517 hook (what pip and `python -m build` call) in source, without build isolation."""
    run([sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.{backend_hook}({str(out)!r}))"],
        cwd=source)
    (built,) = [p for p in out.iterdir() if p.name.endswith(".tar.gz" if backend_hook == "build_sdist" else ".whl")]
    return built


@pytest.fixture(scope="module")
def installed():
    """(venv, workdir): the wheel built from the sdist built from a copy of the tree, installed in a fresh venv."""
    top = Path(tempfile.mkdtemp(prefix="l2i-wheel-"))
    try:
        copy = top / "src"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info",
                                                                   "build", "dist", ".pytest_cache", ".hypothesis"))
        sdist = build("build_sdist", copy, top / "sdist")
        with tarfile.open(sdist) as tar:
            names = tar.getnames()
            unpacked = top / "unpacked"
            tar.extractall(unpacked, filter="data")
        prefix = sdist.name[: -len(".tar.gz")]
        assert {f"{prefix}/sql/{name}" for name in SQL_FILES} <= set(names), "the sdist lacks sql/ files"
        # Built from the unpacked sdist, as pip does from PyPI: proves the sdist is complete.
        wheel = build("build_wheel", unpacked / prefix, top / "wheel")
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
        assert {f"l2i/_sql/{name}" for name in SQL_FILES} <= members, "the wheel lacks sql/ files"
        assert "l2i/gunicorn_conf.py" in members

        venv = top / "venv"
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
             "--no-deps", "--no-index", "--no-build-isolation", str(wheel)])
        site = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                    .stdout.strip())
        (site / "l2i-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
        work = top / "work"
        work.mkdir()
        yield venv, work, site
    finally:
        shutil.rmtree(top, ignore_errors=True)


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def test_the_installed_wheel_migrates_and_answers_a_post_through_gunicorn(installed):
    venv, work, site = installed
    python, l2i = str(venv / "bin" / "python"), str(venv / "bin" / "l2i")
    where = run([python, "-c", "import l2i, l2i.sql; print(l2i.__file__); print(l2i.sql.SQL_DIR)"], cwd=work,
                env=clean_env()).stdout.split()
    assert where == [str(site / "l2i" / "__init__.py"), str(site / "l2i" / "_sql")], where

    name = "l2i_wheel_" + os.urandom(5).hex()  # created by the installed l2i itself
    url = make_conninfo(BASE_URL, dbname=name)
    try:
        out = run([l2i, "--database-url", url, "migrate", "--create-database"], cwd=work, env=clean_env()).stdout
        assert out.splitlines() == ["created the database"] + [f"applied {p.name}" for _, _, p in migrations()]
        again = run([l2i, "--database-url", url, "migrate"], cwd=work, env=clean_env()).stdout
        assert again == "nothing to apply\n"
        account = run([l2i, "--database-url", url, "account", "create", "Wheel"], cwd=work,
                      env=clean_env()).stdout.strip()
        key = run([l2i, "--database-url", url, "key", "create", account, "--scopes", "write,read"], cwd=work,
                  env=clean_env()).stdout.splitlines()[-1]
        answer = post_through_gunicorn(python, work, url, key)
        assert answer["outcome"] == "created" and answer["status"] == "new", answer
    finally:
        drop_database(name)


def post_through_gunicorn(python: str, work: Path, url: str, key: str) -> dict:
    port = free_port()
    env = clean_env(DATABASE_URL=url, L2I_BIND=f"127.0.0.1:{port}", L2I_WORKERS="1", L2I_LOG_LEVEL="warning")
    log = work / "gunicorn.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([python, "-m", "gunicorn", "-c", "python:l2i.gunicorn_conf"], cwd=work, env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        request = urllib.request.Request(base + "/v1/leads", data=json.dumps(QUICKSTART_LEAD).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 201
            return json.load(resp)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_install_without_its_sql_fails_loudly(installed, tmp_path):
    venv, work, site = installed
    broken = tmp_path / "site"
    shutil.copytree(site / "l2i", broken / "l2i", ignore=shutil.ignore_patterns("_sql"))
    env = clean_env(PYTHONPATH=str(broken))
    result = subprocess.run([str(venv / "bin" / "python"), "-c", "from l2i.cli import main; main(['migrate'])"],
                            cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "l2i cannot find its SQL" in result.stderr, result.stderr[-2000:]


def test_find_sql_dir_needs_migrations_queries_and_admin_scripts(tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_core.sql").write_text("SELECT 1;")
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "q.sql").write_text("-- name: q :one\n-- Q.\nSELECT 1;")
    with pytest.raises(SQLNotFound, match="cannot find its SQL"):
        find_sql_dir((tmp_path / "elsewhere", tmp_path))
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "a.sql").write_text("SELECT 1;")
    assert find_sql_dir((tmp_path / "elsewhere", tmp_path)) == tmp_path
    with pytest.raises(SQLNotFound, match="no migrations"):
        migrations(tmp_path / "admin" / "nothing")
