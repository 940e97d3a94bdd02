"""What the two web load tests share: a gunicorn server on 127.0.0.1, the page check, wrk, the
turns the variants take, and the table.

``bench_web.py`` (Flask) and ``bench_django_web.py`` (Django) serve the same orders page — the
member's 50 newest of 20,000 orders, no rate — in their own variants; everything around the
serving is here, so the two measure in the same way.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PAGE = 50  # orders on the page
THEIRS = 100  # orders of the member's customer: R-000000 .. R-000099, made in that order


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One variant's WSGI ``app`` under gunicorn (2 sync workers) on 127.0.0.1, started from
    ``cwd`` with ``env``; stopped by ``stop()``."""

    def __init__(self, variant: str, app: str, *, cwd: Path, env: dict[str, str]) -> None:
        self.variant = variant
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
             f"127.0.0.1:{self.port}", "--log-level", "warning", app],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{variant}: gunicorn ended: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit(f"{variant}: gunicorn did not start")

    @property
    def base(self) -> str:
        """The server's address, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """End gunicorn (and its workers), killing it if it does not go within 10 s."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def fetch(server: Server, cookie: str) -> str:
    """The orders page as ``cookie`` (a ``Cookie`` header, empty for none) sees it."""
    request = urllib.request.Request(server.base + "/orders", headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as answer:
        return str(answer.read().decode())


def check_page(variant: str, page: str) -> list[str]:
    """The references on the page, after checking it is the member's page: 50 rows, newest
    first, of the member's customer, and no rate anywhere."""
    references = re.findall(r"<td>(R-\d{6})</td>", page)
    if len(references) != PAGE or f"{PAGE} orders" not in page:
        sys.exit(f"{variant}: expected {PAGE} orders on the page, found {len(references)}")
    if "Rate" in page or ".40</td>" in page:
        sys.exit(f"{variant}: the page shows rates to a member who may not see them")
    # The newest 50 of hers are R-000099 down to R-000050.
    if references != [f"R-{n:06d}" for n in range(THEIRS - 1, THEIRS - PAGE - 1, -1)]:
        sys.exit(f"{variant}: not the member's newest orders: {references[:3]}...")
    return references


def check_pages(servers: dict[str, Server], cookies: dict[str, str]) -> None:
    """Every variant shows the member's page, and the same rows as the others."""
    pages = {v: check_page(v, fetch(s, cookies[v])) for v, s in servers.items()}
    if len({tuple(p) for p in pages.values()}) != 1:
        sys.exit(f"the variants show different orders: { {v: p[:2] for v, p in pages.items()} }")


def run_wrk(server: Server, cookie: str, seconds: float) -> float:
    """Requests per second of ``wrk -t1 -c4`` on the orders page; exits if any answer failed."""
    command = ["wrk", "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    command.append(server.base + "/orders")
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        sys.exit(f"{server.variant}: wrk saw failed responses:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        sys.exit(f"{server.variant}: no Requests/sec in wrk's output:\n{out}")
    return float(found.group(1))


def take_turns(
    servers: dict[str, Server], cookies: dict[str, str], repeats: int, seconds: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Load every variant once per repeat, the first one rotating, so that a noisy neighbour
    hits them alike. Returns the requests per second per variant, and per variant other than
    ``open`` its ratio to ``open`` in each repeat."""
    variants = list(servers)
    rps: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants if v != "open"}
    for repeat in range(repeats):
        turn = repeat % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            rps[variant].append(run_wrk(servers[variant], cookies[variant], seconds))
        for variant in ratios:
            ratios[variant].append(rps[variant][-1] / rps["open"][-1])
        print(f"  repeat {repeat + 1}/{repeats}: "
              + ", ".join(f"{v} {rps[v][-1]:,.0f}/s" for v in variants), file=sys.stderr)  # fmt: skip
    return rps, ratios


def report(
    name: str,
    page: str,
    seconds: float,
    repeats: int,
    rps: dict[str, list[float]],
    ratios: dict[str, list[float]],
    aim: float,
    others: Sequence[str] = (),
) -> None:
    """Print the run's conditions, the table, and portalkit's ratio against ``aim`` (with the
    ratios of ``others`` beside it)."""
    load = os.getloadavg()[0]
    print(f"{name}: {' '.join(sys.argv[1:]) or '(defaults)'}; {os.cpu_count()} CPUs, load "
          f"average at the end {load:.2f}; gunicorn 2 sync workers, wrk -t1 -c4, "
          f"{seconds:g} s per sample, {repeats} repeats, variants taking turns")  # fmt: skip
    print(page)
    print()
    header = f"{'variant':<14}{'req/s median':>14}{'min':>9}{'max':>9}{'x open':>9}"
    print(header)
    print("-" * len(header))
    for variant, values in rps.items():
        ratio = statistics.median(ratios[variant]) if variant in ratios else 1.0
        print(f"{variant:<14}{statistics.median(values):>14,.0f}{min(values):>9,.0f}"
              f"{max(values):>9,.0f}{ratio:>9.2f}")  # fmt: skip
    ours = statistics.median(ratios["portalkit"])
    verdict = "met" if ours >= aim else "MISSED"
    besides = "".join(
        f"; {other} / open = {statistics.median(ratios[other]):.2f}" for other in others
    )
    print(
        f"\nportalkit / open = {ours:.2f} (median of the per-repeat ratios; aim >= {aim}: "
        f"{verdict}){besides}"
    )
