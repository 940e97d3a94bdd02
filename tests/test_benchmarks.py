"""Every benchmark still runs and its own result checks still pass, at a tiny size.

A benchmark checks what it measured (the same rows, the same pages, the same mail on both
sides) and exits non-zero when that check fails. Schema changes have broken those checks
before without anyone noticing until the next measurement, so each one runs here with the
smallest workload its options allow. The figures are not looked at: speed is judged by running
the benchmarks themselves on a quiet machine, never here. A missed aim is printed, not failed.

``bench_web.py`` and ``bench_django_web.py`` are not here: they need gunicorn and wrk, which the
test environment does not install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

RUNS = {
    "bench_inbox.py": "--items 2000 --repeats 1 --calls 3",
    "bench_shop.py": "--quick --repeats 1",
    "bench_checkout.py": "--quick",
    "bench_import.py": "--customers 30 --big 300",
    "bench_provision.py": "--rounds 2",
    "bench_add_login.py": "--rounds 3",
    "bench_bulk.py": "--customers 50 --repeats 1 --per-transaction 10",
    "bench_mail.py": "--messages 50 --repeats 1 --batches 10",
    "bench_login.py": "--samples 5 --login-samples 5 --reset-samples 5 --sequence-samples 5 "
    "--session-samples 5"
    " --gaps 0.5 --legacy-iterations 1000 --backends memory",
    "bench_tokens.py": "--rounds 3 --calls 2",
    "bench_bearer_web.py": "--rounds 2 --calls 2",
    "bench_email_change.py": "--rounds 3 --warmup 1",
    "bench_access.py": "--only query --only context --no-postgres --repeats 1 --sizes 1000"
    " --invoice-customers 15 --ctx-customers 20 --contexts 20 --batch-seconds 0.01",
}


def test_every_benchmark_but_the_web_one_is_listed() -> None:
    """A new benchmark is run here too, or its absence is explained in this module."""
    found = {p.name for p in BENCH.glob("bench_*.py")}
    assert found - set(RUNS) == {"bench_web.py", "bench_webapp.py", "bench_django_web.py"}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs_and_checks_itself(script: str, tmp_path: Path) -> None:
    """The benchmark exits 0 at a tiny size: its own result checks passed."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *RUNS[script].split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script} printed no table"
