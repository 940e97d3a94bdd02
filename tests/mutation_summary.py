"""Killed and surviving mutants per function, after ``mutmut run`` (``tox -e mutants``).

Usage: ``python tests/mutation_summary.py PATTERN...`` in the project directory, with the
patterns given to ``mutmut run``. Reads the ``.meta`` files mutmut leaves under ``mutants/``
and prints one line per function, then every mutant that was not killed (``mutmut show NAME``
prints its diff). Not a test: pytest does not collect it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

# mutmut 3's exit codes (mutmut/stats.py); a timeout counts as killed, as mutmut scores it.
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
_STATUS.update(dict.fromkeys((24, -24, 152, 255, 36), "timeout"))


def summarise(patterns: list[str], root: Path = Path("mutants")) -> int:
    """Print the table; the number of mutants that were neither killed nor timed out."""
    by_function: dict[str, Counter[str]] = defaultdict(Counter)
    alive: list[tuple[str, str]] = []
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                continue
            status = "not checked" if code is None else _STATUS.get(code, "suspicious")
            function = re.sub(r"__mutmut_\d+$", "", name)
            by_function[function][status] += 1
            if status not in ("killed", "timeout"):
                alive.append((name, status))
    total: Counter[str] = Counter()
    print(f"{'function':<62} {'mutants':>7} {'killed':>6} {'alive':>5}")
    for function, counts in sorted(by_function.items()):
        total += counts
        killed = counts["killed"] + counts["timeout"]
        n = sum(counts.values())
        print(f"{function:<62} {n:>7} {killed:>6} {n - killed:>5}")
    n = sum(total.values())
    killed = total["killed"] + total["timeout"]
    share = f"{100 * killed / n:.1f}%" if n else "-"
    print(f"{'total':<62} {n:>7} {killed:>6} {n - killed:>5}  ({share} killed)")
    for name, status in alive:
        print(f"  {status}: {name}")
    return len(alive)


if __name__ == "__main__":
    summarise(sys.argv[1:])
