"""The image's install steps, replayed without Docker: the builder stage's RUN/COPY/WORKDIR in a
fresh venv under a stand-in root directory, then the runtime stage's ENV — and `mentorbot kb
check` / `db upgrade` / `ask` from another directory find knowledge/, migrations/ and the
templates outside the repository, in a non-editable install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .dockerfile import REPO, dockerignore_patterns, dockerignored, env_of, stages

ROOTS = ("opt", "app", "data", "src")  # the absolute paths the Dockerfile uses


def rooted(text: str, root: Path) -> str:
    """Absolute image paths (/opt/venv, /app/..., /data/..., /src) → under ``root``."""
    return re.sub(rf"(?<![\w.])/({'|'.join(ROOTS)})(?=/|\b)", lambda m: f"{root}{m.group(0)}",
                  text)


def copy_from_context(source: str, dest: Path) -> None:
    """COPY from the build context, leaving out what .dockerignore keeps out of it."""
    patterns = dockerignore_patterns()
    src = REPO / source
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        return
    for path in src.rglob("*"):
        rel = path.relative_to(REPO).as_posix()
        if path.is_file() and not dockerignored(rel, patterns):
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The outer environment without this repository's venv or any mentorbot setting, with a
    `python` that is the bare interpreter (as in python:3.11-slim)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    venv_bin = str(Path(sys.executable).parent)
    path = [str(bindir)] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                            if p and Path(p).resolve() != Path(venv_bin).resolve()]
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env["PATH"] = os.pathsep.join(path)
    return env


def sh(cmd: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"$ {cmd}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.mark.slow
def test_image_install_steps_work_in_a_fresh_venv_outside_the_repo(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    env = clean_env(tmp_path)
    builder, runtime = stages()

    # --- builder stage: replayed step by step ---------------------------------------------
    cwd = root
    for word, rest in builder[1:]:
        if word == "ENV":
            env.update({k: rooted(v, root) for k, v in env_of([(word, rest)]).items()})
        elif word == "WORKDIR":
            cwd = Path(rooted(rest, root))
            cwd.mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = rest.split()
            target = Path(rooted(dest, root)) if dest.startswith("/") else cwd / dest
            for source in sources:
                into = target / Path(source).name if dest.endswith("/") else target
                copy_from_context(source, into)
        elif word == "RUN":
            sh(rooted(rest, root), cwd, env)
        else:
            raise AssertionError(f"the replay does not know {word}: teach it")
    shutil.rmtree(root / "src")  # the runtime stage gets the venv only

    # --- runtime stage: its COPYs from the context, its ENV, a volume at /data ----------------
    for word, rest in runtime[1:]:
        if word == "COPY" and not rest.startswith("--from="):
            source, dest = rest.split()
            copy_from_context(source, Path(rooted(dest, root)))
        elif word == "COPY":
            assert rest == "--from=builder /opt/venv /opt/venv"  # same path: nothing to move
    assert any(w == "RUN" and "mkdir -p /data" in r for w, r in runtime)
    (root / "data").mkdir()
    run_env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    for key, value in env_of(runtime).items():
        run_env[key] = rooted(value, root).replace("$PATH", env["PATH"])
    assert run_env["PATH"].startswith(f"{root}/opt/venv/bin:")
    elsewhere = tmp_path / "elsewhere"  # neither the repository nor /app
    elsewhere.mkdir()

    # the entrypoint is the venv's, and the package is installed, not linked to the repo
    assert shutil.which("mentorbot", path=run_env["PATH"]) == str(root / "opt/venv/bin/mentorbot")
    where = sh("python -c 'import bot, jinja2; print(bot.__file__)'", elsewhere, run_env)
    assert where.strip().startswith(str(root / "opt/venv/lib/"))
    site = next((root / "opt/venv/lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*")) and not (site / "tests").exists()
    assert not (site / "knowledge").exists() and not (site / "migrations").exists()
    sh("python -m pip check", elsewhere, run_env)
    installed = sh("python -m pip list --format=freeze", elsewhere, run_env).lower()
    for test_only in ("pytest", "hypothesis", "ruff"):
        assert f"\n{test_only}==" not in "\n" + installed, f"{test_only} is not a runtime dep"

    # what the image runs, from another directory, with the image's environment
    out = sh("mentorbot kb check", elsewhere, run_env)
    assert "knowledge base OK" in out
    out = sh("mentorbot db upgrade", elsewhere, run_env)
    assert f"{root}/data/mentorbot.db" in out and "at revision" in out
    assert (root / "data" / "mentorbot.db").is_file()
    assert "up to date" in sh("mentorbot db current", elsewhere, run_env)
    out = sh("mentorbot ask 'how long until senior?'", elsewhere, run_env)  # templates packaged
    assert out.strip() and "Traceback" not in out
    assert not list(elsewhere.iterdir()), "nothing is written to the working directory"
