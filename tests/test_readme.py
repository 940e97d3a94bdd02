"""The README's quick start and the example scripts run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_readme_quick_start_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks(ROOT / "README.md")
    assert blocks, "the README has no python block to run"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert "code - this customer code is already taken" in capsys.readouterr().out


def test_readme_names_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "python3 -m pip install --quiet tox && python3 -m tox"
    assert command in readme
    assert command in ci


def test_readme_first_command_installs_and_starts_the_demo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.S)
    assert commands[0] == (
        "python3 -m pip install --quiet . ./examples/flask && python3 -m portalkit_flask.demo"
    )
    # What it installs is the adapter package whose demo it starts (tests/test_flask_demo.py
    # serves that demo over HTTP).
    adapter = (ROOT / "examples" / "flask" / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "portalkit-flask"' in adapter
    assert (
        ROOT / "examples" / "flask" / "src" / "portalkit_flask" / "demo" / "__main__.py"
    ).exists()


def test_quickstart_example_runs_twice_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    script = ROOT / "examples" / "quickstart.py"
    first = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Created customer ACME" in first.stdout
    assert (tmp_path / "portalkit.db").exists()
    second = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Found customer ACME" in second.stdout
    assert "login jane.visser" in second.stdout
