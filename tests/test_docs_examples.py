"""Every example in the docs runs, and prints what its comments say it prints.

The ```python blocks of a page (in docs/ or a folder of it) form programs: a
``% program: name`` line starts one, and ``% program: name (continued)`` adds the next block
to it. Each program runs in a fresh interpreter in an empty folder, without ``PORTALKIT_*``
variables. A line ``print(...)  # expected`` must print exactly ``expected``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
# Programs that are not meant to run here: they need a package of the reader's own, or are
# test modules shown for pytest.
NOT_HERE = ("contract-example", "pytest")

_CHECK = """
import io as _docs_io
_docs_failures = []


def _docs_expect(expected, *args, **kwargs):
    buffer = _docs_io.StringIO()
    print(*args, file=buffer, **kwargs)
    got = buffer.getvalue().rstrip("\\n")
    print(got)
    if got != expected:
        _docs_failures.append((expected, got))


import atexit as _docs_atexit


@_docs_atexit.register
def _docs_report():
    import os
    import sys

    for expected, got in _docs_failures:
        print(f"printed {got!r}, the page says {expected!r}", file=sys.stderr)
    if _docs_failures:
        os._exit(3)
"""


def _programs(page: Path) -> list[tuple[str, str]]:
    """(name, code) of each program on a page, blocks joined in order."""
    programs: dict[str, list[str]] = {}
    marker: str | None = None
    current: str | None = None
    lines = page.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        found = re.match(r"^% program: (.*)$", lines[i])
        if found:
            marker = found.group(1).strip()
        if lines[i].startswith("```python"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if marker is not None:
                continued = marker.endswith("(continued)")
                current = marker.removesuffix("(continued)").strip() if continued else marker
                if not continued and current in programs:
                    current = f"{current}@{i + 1}"
            elif current is None:
                current = f"block@{i + 1}"
            programs.setdefault(current, []).append("\n".join(lines[i + 1 : end]))
            marker = None
            i = end
        i += 1
    return [(name, "\n".join(blocks)) for name, blocks in programs.items()]


def _checked(code: str) -> str:
    """The code with each ``print(...)  # expected`` line turned into a check."""
    out = []
    for line in code.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("print(") and "#" in line:
            try:
                tokens = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
            except (tokenize.TokenError, SyntaxError):
                out.append(line)
                continue
            comments = [t for t in tokens if t.type == tokenize.COMMENT]
            if comments:
                comment = comments[-1]
                statement = line[: comment.start[1]].rstrip().strip()
                indent = line[: len(line) - len(stripped)]
                expected = comment.string[1:].strip()
                out.append(f"{indent}_docs_expect({expected!r}, {statement[len('print(') : -1]})")
                continue
        out.append(line)
    return "\n".join(out)


EXAMPLES = [
    pytest.param(page, name, code, id=f"{page.relative_to(DOCS).with_suffix('').as_posix()}:{name}")
    for page in sorted(DOCS.rglob("*.md"))
    if "_build" not in page.relative_to(DOCS).parts
    for name, code in _programs(page)
    if not any(word in name for word in NOT_HERE)
]


@pytest.mark.parametrize(("page", "name", "code"), EXAMPLES)
def test_the_example_runs_as_the_page_says(
    page: Path, name: str, code: str, tmp_path: Path
) -> None:
    program = tmp_path / "example.py"
    program.write_text(_CHECK + "\n" + _checked(code), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    result = subprocess.run(
        [sys.executable, str(program)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"{page.name} :: {name}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )


def test_the_pages_have_examples() -> None:
    assert len(EXAMPLES) >= 20  # the parser found the programs (not an empty, green run)
