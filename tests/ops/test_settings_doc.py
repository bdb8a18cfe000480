"""Every setting is documented in README.md, from a table generated off the model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.ops import settings_table

DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_operator_guide_with_its_env_var_and_default():
    doc = DOC.read_text(encoding="utf-8")
    rows = {name: row for name, *row in settings_table.rows()}
    assert set(rows) == set(Settings.model_fields)
    for name in Settings.model_fields:
        env, _, default, _ = rows[name]
        line = next((ln for ln in doc.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert line is not None, f"{name} is not in {DOC.name}"
        assert f"`{env}`" in line and default in line, line


def test_the_table_in_the_guide_is_the_generated_one():
    doc = DOC.read_text(encoding="utf-8")
    assert settings_table.replace_block(doc) == doc, (
        "stale: run python -m bot.ops.settings_table --write README.md")
    assert settings_table.main(["--check", str(DOC)]) == 0


def test_module_prints_the_markdown_table():
    out = subprocess.run([sys.executable, "-m", "bot.ops.settings_table"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0] == "| Setting | Environment variable | Type | Default | Meaning |"
    assert len(lines) == 2 + len(Settings.model_fields)
    assert "| `http_port` | `HTTP_PORT` | integer | unset |" in out
    assert "| `owner_ids` | `OWNER_IDS` | JSON list of integers | `[]` |" in out
    assert "| `log_format` | `LOG_FORMAT` | `text` or `json` | `text` |" in out


def test_write_refreshes_a_stale_table(tmp_path):
    stale = tmp_path / "ops.md"
    stale.write_text(f"intro\n{settings_table.START}\n| old |\n{settings_table.END}\nend\n")
    assert settings_table.main(["--check", str(stale)]) == 1
    assert settings_table.main(["--write", str(stale)]) == 0
    text = stale.read_text()
    assert text.startswith("intro\n") and text.endswith("\nend\n") and "| old |" not in text
    assert settings_table.main(["--check", str(stale)]) == 0
