"""Mail delivery: ``portal.mail.flush()`` against a bare ``smtplib`` loop, into a local SMTP sink.

N messages (default 10,000) are queued with ``portal.mail.enqueue`` in one transaction (not
timed), then delivered to an SMTP sink on 127.0.0.1:

- ``ours-sqlite b=K``  ``portal.mail.flush(batch=K)`` on SQLite (a fresh file per run) with
                       ``SmtpMailer("127.0.0.1", port, security="none")``: claim a batch, build
                       the messages (classic MIME classes), send them over one connection, record the
                       outcome; until the queue is empty;
- ``ours-memory b=K``  the same on the memory backend;
- ``bare smtplib``     the same N messages, built beforehand from the queued
                       rows with ``portal.mail._build`` (not timed), sent by
                       ``smtplib.SMTP("127.0.0.1", port)`` with ``send_message`` in a loop over
                       one connection, then ``quit()``.

Each sink runs in its own process (so it neither competes for this process's GIL nor adds its
received messages to this process's garbage collector) and is emptied before every run:

- ``aiosmtpd``        the tests' sink (tests/smtpsink.py): aiosmtpd, parses and keeps each
                      message;
- ``aiosmtpd-count``  aiosmtpd with a handler that only records the Message-ID;
- ``null``            a minimal hand-written SMTP responder (blocking sockets) that only records
                      the Message-ID: the floor, to show how much of the time is the sink's.

After every run the sink must hold exactly N Message-IDs, all distinct and equal to the queued
ones, and ours must report N sent, so no variant can measure less work. Variants run
round-robin, the starting one rotating per repeat; times are medians, ours/bare is the median
of the per-repeat ratios (each repeat's variants ran side by side on the same sink).

Run from the repository root::

    python bench/bench_mail.py                    # 10,000 messages, 3 repeats
    python bench/bench_mail.py --quick            # 1,000 messages, 1 repeat
    python bench/bench_mail.py --batches 50,200,500 --sinks aiosmtpd --repeats 5
    python bench/bench_mail.py --profile          # also cProfile one ours-sqlite flush
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib.metadata
import io
import multiprocessing
import os
import pstats
import shlex
import smtplib
import socketserver
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from email.message import Message
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy

import portalkit
from portalkit import Portal, PortalSettings
from portalkit.mail.smtp import SmtpMailer
from portalkit.outbox import FlushReport, OutboxMessage
from portalkit.storage.memory import MemoryStorage
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World

TESTS = Path(__file__).resolve().parent.parent / "tests"
AIM = 0.7  # ours' rate at least this share of the bare loop's
MAIL_FROM = "portal@vendor.example"
SINKS = ("aiosmtpd", "aiosmtpd-count", "null")


# -- the sinks, each in a child process ---------------------------------------------------------


def _message_id(content: bytes) -> str | None:
    """The Message-ID header of a raw message, without parsing the rest."""
    for line in content.split(b"\r\n" if b"\r\n" in content else b"\n"):
        if not line:
            return None  # end of the headers
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode()
    return None


class _NullHandler(socketserver.StreamRequestHandler):
    """Answers every command with success; keeps only each message's Message-ID."""

    def handle(self) -> None:
        ids: list[str] = self.server.ids  # type: ignore[attr-defined]
        out, inp = self.wfile, self.rfile
        out.write(b"220 null ESMTP\r\n")
        while line := inp.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                out.write(b"354 end with <CRLF>.<CRLF>\r\n")
                chunks = []
                while (chunk := inp.readline()) not in (b".\r\n", b""):
                    chunks.append(chunk)
                found = _message_id(b"".join(chunks))
                if found is not None:
                    ids.append(found)
                out.write(b"250 OK\r\n")
            elif verb == b"EHLO":
                out.write(b"250-null\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                out.write(b"221 bye\r\n")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                out.write(b"250 OK\r\n")


class _CountHandler:
    """An aiosmtpd handler that keeps only the Message-ID."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _message_id(envelope.content)
        if found is not None:
            self.ids.append(found)
        return "250 OK"


def _serve_sink(kind: str, conn: Connection) -> None:
    """Child process: run one sink; answer "reset", "ids" and "stop" on ``conn``."""
    sys.path.insert(0, str(TESTS))
    from smtpsink import SmtpServer, free_port  # type: ignore[import-not-found, unused-ignore]

    reset: Callable[[], None]
    ids: Callable[[], list[str]]
    if kind == "aiosmtpd":
        smtp = SmtpServer().start()
        port, stop = smtp.port, smtp.stop

        def reset() -> None:
            with smtp.sink.lock:
                smtp.sink.messages.clear()

        ids = smtp.sink.message_ids
    elif kind == "aiosmtpd-count":
        from aiosmtpd.controller import Controller

        handler = _CountHandler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        stop = controller.stop
        reset, ids = handler.ids.clear, lambda: list(handler.ids)
    else:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _NullHandler)
        server.daemon_threads = True
        server.ids = []  # type: ignore[attr-defined]
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = server.shutdown
        reset, ids = server.ids.clear, lambda: list(server.ids)  # type: ignore[attr-defined]
    conn.send(port)
    while True:
        command = conn.recv()
        if command == "reset":
            reset()
            conn.send(None)
        elif command == "ids":
            conn.send(ids())
        else:
            stop()
            conn.send(None)
            return


class SinkProcess:
    """A sink in a child process: ``port``, ``reset()``, ``ids()``, ``stop()``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve_sink, args=(kind, child), daemon=True)
        self._process.start()
        if not self._conn.poll(60):
            self._process.kill()
            sys.exit(f"sink {kind}: did not start within 60 s")
        self.port: int = self._conn.recv()

    def _ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    def ids(self) -> list[str]:
        result: list[str] = self._ask("ids")
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self._ask("stop")
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()  # our own child, by its handle


# -- the queue, ours and the baseline ---------------------------------------------------------


def queued_portal(backend: str, port: int, n: int, tmp: Path) -> tuple[Portal, Any, Any]:
    """A portal on a fresh store with ``n`` messages queued in one transaction (not timed)."""
    storage: Any
    if backend == "sqlite":
        storage = SqlStorage(f"sqlite:///{tmp / f'outbox-{time.monotonic_ns()}.db'}")
        storage.upgrade_schema()
    else:
        storage = MemoryStorage()
    portal = Portal(
        storage,
        SmtpMailer("127.0.0.1", port, security="none"),
        settings=PortalSettings(mail_send_after_commit=False, mail_from=MAIL_FROM),
    )
    world = World(portal)
    with portal.transaction():
        for i in range(n):
            portal.mail.enqueue(
                world.staff,
                to=f"member{i}@customer{i % 97}.example",
                subject=f"Invoice {i:06d} is ready",
                text=(
                    f"Hello,\n\ninvoice {i:06d} is ready in the portal.\n"
                    "You can view and download it under Invoices.\n\n"
                    "Kind regards,\nThe portal team\n"
                ),
            )
    return portal, storage, world


def queued_rows(portal: Portal, world: Any) -> list[OutboxMessage]:
    """Every queued message as stored, oldest first."""
    uow = portal.storage.begin()
    try:
        rows: list[OutboxMessage] = uow.outbox.list(world.vendor.id)
    finally:
        uow.rollback()
    return rows


def run_ours(portal: Portal, batch: int) -> FlushReport:
    return portal.mail.flush(batch=batch)


def run_bare(port: int, emails: list[Message]) -> int:
    """Send every message over one connection; returns how many had a recipient refused."""
    refused = 0
    client = smtplib.SMTP("127.0.0.1", port)
    for email in emails:
        if client.send_message(email):
            refused += 1
    client.quit()
    return refused


def check_sink(label: str, sink: SinkProcess, expected: set[str], n: int) -> None:
    received = sink.ids()
    if len(received) != n or set(received) != expected:
        sys.exit(
            f"{label} on {sink.kind}: the sink holds {len(received):,} messages "
            f"({len(set(received)):,} distinct ids, {len(set(received) & expected):,} of the "
            f"{n:,} queued); expected exactly the {n:,} queued"
        )


def one_run(
    variant: tuple[str, int], sink: SinkProcess, n: int, tmp: Path
) -> tuple[float, float | None]:
    """Time one variant into an emptied sink; returns seconds (and, for bare, the untimed
    seconds it took to build its messages)."""
    backend, batch = variant
    portal, storage, world = queued_portal(
        "memory" if backend == "bare" else backend, sink.port, n, tmp
    )
    rows = queued_rows(portal, world)
    expected = {m.message_id for m in rows}
    if len(rows) != n or len(expected) != n:
        sys.exit(f"{backend}: {len(rows):,} rows queued, {len(expected):,} distinct ids")
    build_seconds = None
    emails: list[Message] = []
    if backend == "bare":
        # With the collector off: untimed set-up, and the same objects either way.
        gc.disable()
        try:
            started = time.perf_counter()
            emails = [portal.mail._build(m) for m in rows]
            build_seconds = time.perf_counter() - started
        finally:
            gc.enable()
    del rows
    sink.reset()
    gc.collect()  # garbage of the previous run must not be collected on this one's clock
    started = time.perf_counter()
    if backend == "bare":
        refused = run_bare(sink.port, emails)
    else:
        report = run_ours(portal, batch)
    seconds = time.perf_counter() - started

    label = variant_name(variant)
    if backend == "bare":
        if refused:
            sys.exit(f"{label}: {refused} messages had a recipient refused")
    else:
        if report != FlushReport(sent=n):
            sys.exit(f"{label}: flush reported {report}, expected {n:,} sent")
        if portal.mail.list(world.staff, status="pending", limit=1):
            sys.exit(f"{label}: messages still pending after the flush")
    check_sink(label, sink, expected, n)
    if backend == "sqlite":
        storage.close()
    return seconds, build_seconds


def variant_name(variant: tuple[str, int]) -> str:
    backend, batch = variant
    return "bare smtplib" if backend == "bare" else f"ours-{backend} b={batch}"


def profile_flush(sink: SinkProcess, n: int, batch: int, tmp: Path) -> str:
    """cProfile one ours-sqlite flush: the top 15 functions by own time, then portalkit's
    own functions by cumulative time."""
    portal, storage, world = queued_portal("sqlite", sink.port, n, tmp)
    expected = {m.message_id for m in queued_rows(portal, world)}
    sink.reset()
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    report = run_ours(portal, batch)
    profiler.disable()
    if report != FlushReport(sent=n):
        sys.exit(f"profile: flush reported {report}")
    check_sink("profile", sink, expected, n)
    storage.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(r"portalkit/(outbox|mail/smtp|storage)", 12)
    return out.getvalue()


# -- report ---------------------------------------------------------------------------------


def versions() -> str:
    return ", ".join(
        [
            f"Python {sys.version.split()[0]}",
            f"portalkit {portalkit.__version__}",
            f"SQLAlchemy {sqlalchemy.__version__}",
            f"SQLite {sqlite3.sqlite_version}",
            f"aiosmtpd {importlib.metadata.version('aiosmtpd')}",
        ]
    )


def report(
    args: argparse.Namespace,
    variants: list[tuple[str, int]],
    times: dict[tuple[str, str], list[float]],
    builds: dict[str, list[float]],
    ratios: dict[tuple[str, str], list[float]],
    load: float,
) -> None:
    n = args.messages
    print()
    print("portalkit mail delivery benchmark")
    print(f"  command:   {shlex.join(['python', *sys.argv])}")
    print(f"  versions:  {versions()}")
    print(f"  machine:   {os.cpu_count()} CPUs, load average at start {load:.2f}; repeats "
          f"{args.repeats}, variants interleaved round-robin, median shown")  # fmt: skip
    print(f"  workload:  {n:,} text messages (about 550 bytes each on the wire), queued with "
          "portal.mail.enqueue in one transaction (not timed)")  # fmt: skip
    print("  ours:      portal.mail.flush(batch=b) until the queue is empty: claim, build, send "
          "over one connection per batch, record outcomes")  # fmt: skip
    print("  bare:      smtplib.SMTP + send_message in a loop over one connection + quit(), on "
          "messages built beforehand with portal.mail._build (not timed)")  # fmt: skip
    print("  sinks:     each in its own process on 127.0.0.1, emptied before every run; "
          "aiosmtpd = tests/smtpsink.py (parses and keeps each message), aiosmtpd-count = "
          "aiosmtpd keeping only the Message-ID, null = hand-written responder keeping only "
          "the Message-ID")  # fmt: skip
    print(f"  checked:   after every run the sink holds exactly the {n:,} queued Message-IDs, "
          f"all distinct; ours reports {n:,} sent and none pending")  # fmt: skip
    misses = []
    for sink in args.sinks:
        bare = statistics.median(times[(sink, "bare smtplib")])
        print()
        print(f"sink: {sink}")
        header = (f"{'variant':<20}{'median s':>10}{'min s':>9}{'max s':>9}{'msgs/s':>10}"
                  f"{'ours/bare':>11}")  # fmt: skip
        print(header)
        print("-" * len(header))
        for variant in variants:
            name = variant_name(variant)
            vals = times[(sink, name)]
            med = statistics.median(vals)
            if name == "bare smtplib":
                ratio = ""
            else:
                r = statistics.median(ratios[(sink, name)])
                ratio = f"{r:>11.2f}"
                if r < AIM:
                    misses.append(f"{sink} {name} {r:.2f}")
            print(f"{name:<20}{med:>10.2f}{min(vals):>9.2f}{max(vals):>9.2f}{n / med:>10,.0f}"
                  f"{ratio}")  # fmt: skip
        print(f"(rate = messages / median seconds; bare at {n / bare:,.0f} msgs/s)")
    if "null" in args.sinks and len(args.sinks) > 1:
        # The null sink does next to nothing, so what another sink adds to bare's time is that
        # sink's own work: if it is most of bare's time, the sink is bare's bottleneck.
        floor = statistics.median(times[("null", "bare smtplib")])
        for sink in args.sinks:
            if sink != "null":
                bare = statistics.median(times[(sink, "bare smtplib")])
                ours = statistics.median(times[(sink, variant_name(variants[0]))])
                ours_null = statistics.median(times[("null", variant_name(variants[0]))])
                print(f"\n{sink} vs null: the sink takes {max(bare - floor, 0) / bare:.0%} of "
                      f"bare's time ({bare:.2f} s against {floor:.2f} s) and "
                      f"{max(ours - ours_null, 0) / ours:.0%} of {variant_name(variants[0])}'s "
                      f"({ours:.2f} s against {ours_null:.2f} s)")  # fmt: skip
    build = statistics.median(builds["all"])
    print(f"\nbuilding the {n:,} messages for bare (portal.mail._build, not timed, collector "
          f"off): median {build:.2f} s = {build / n * 1e6:,.0f} us per message")  # fmt: skip
    print(f"ours/bare = ours' rate / bare's rate, median of the per-repeat ratios.  Aim >= {AIM}: "
          + ("met" if not misses else "MISSED: " + "; ".join(misses)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="50,500",
                        help="batch sizes for ours-sqlite, comma-separated; the first is also "
                        "used for ours-memory and --profile (default 50,500; 50 is flush()'s "
                        "and the CLI's default)")  # fmt: skip
    parser.add_argument(
        "--sinks",
        default="aiosmtpd,null",
        help=f"comma-separated, of {', '.join(SINKS)} (default aiosmtpd,null)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 1 repeat")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, cProfile one ours-sqlite flush on the first sink")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeats = 1_000, 1
    args.sinks = [s.strip() for s in args.sinks.split(",") if s.strip()]
    if not args.sinks or set(args.sinks) - set(SINKS):
        sys.exit(f"--sinks: choose from {', '.join(SINKS)}")
    batches = [int(b) for b in args.batches.split(",")]
    variants = [("sqlite", b) for b in batches] + [("memory", batches[0]), ("bare", 0)]
    names = [variant_name(v) for v in variants]
    load = os.getloadavg()[0]

    times: dict[tuple[str, str], list[float]] = {(s, v): [] for s in args.sinks for v in names}
    ratios: dict[tuple[str, str], list[float]] = {(s, v): [] for s in args.sinks for v in names}
    builds: dict[str, list[float]] = {"all": []}
    sinks: dict[str, SinkProcess] = {}
    profile = ""
    with tempfile.TemporaryDirectory(prefix="portalkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for kind in args.sinks:
                sinks[kind] = SinkProcess(kind)
            for repeat in range(args.repeats):
                for kind, sink in sinks.items():
                    # Rotate the starting variant, so none always runs first.
                    k = repeat % len(variants)
                    this_repeat: dict[str, float] = {}
                    for variant in variants[k:] + variants[:k]:
                        seconds, build = one_run(variant, sink, args.messages, tmp)
                        name = variant_name(variant)
                        times[(kind, name)].append(seconds)
                        this_repeat[name] = seconds
                        if build is not None:
                            builds["all"].append(build)
                        print(f"  repeat {repeat + 1}/{args.repeats}  {kind:<15}{name:<20}"
                              f"{seconds:8.2f} s", file=sys.stderr)  # fmt: skip
                    for name, seconds in this_repeat.items():
                        ratios[(kind, name)].append(this_repeat["bare smtplib"] / seconds)
            if args.profile:
                profile = profile_flush(sinks[args.sinks[0]], args.messages, batches[0], tmp)
        finally:
            for sink in sinks.values():
                sink.stop()
    report(args, variants, times, builds, ratios, load)
    if profile:
        print(f"\ncProfile of one ours-sqlite b={batches[0]} flush of {args.messages:,} messages "
              f"into {args.sinks[0]}:")  # fmt: skip
        print(profile)


if __name__ == "__main__":
    main()
