"""Background jobs: work a request hands on, stored so that no process stop loses it.

A reset or registration request answers at once and the same way for everyone; what it asks
for (the look-up, the link, the mail) is a *job*: one row written by the request itself, in a
transaction of the same shape whatever was typed. The job runs later, from that row — on the
portal's background thread in this process, by ``portal.mail.flush()`` /
``portalkit mail worker``, or, after a crash, by whichever process claims it next:

1. a claim gives the job a lease (``PORTALKIT_MAIL_LEASE_SECONDS``); a job whose lease ran out
   is claimed again. The request's own row is born claimed by its process's background
   thread, so the thread writes nothing before the decision;
2. its decision (throttle, link, mail, audit) commits together with the job's move to
   *decided*, which also purges the payload: of two workers, one decision commits, the
   other rolls back;
3. the mail it made is sent, and the outcome is recorded with the job's deletion, a fixed
   :data:`SETTLE_DELAY` after the decision whether there was mail or not.

A job that fails is tried again with exponential back-off (``PORTALKIT_MAIL_RETRY_SECONDS``)
and given up after ``PORTALKIT_MAIL_MAX_ATTEMPTS`` (an error in the log and the audit log).
The payload — the typed login, the registration form — is stored encrypted with
``PORTALKIT_MAIL_ENCRYPTION_KEY`` and deleted as soon as the decision commits.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit._ids import ordered_id
from portalkit.actors import System
from portalkit.errors import ConcurrentModification, NotFound
from portalkit.jobs.model import Job, JobStage

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.outbox.model import OutboxMessage
    from portalkit.storage.base import UnitOfWork


log = logging.getLogger("portalkit.jobs")

#: What a job's handler returns: the writes of its decision, run in the decision transaction.
Decision = Callable[["UnitOfWork"], None]
#: A handler: given the job and its opened payload, it reads and prepares (outside any write
#: transaction) and returns the decision's writes.
Handler = Callable[["Job", dict[str, Any]], Decision]

_BATCH = 20
#: Seconds from a batch's first decision to the transaction that ends its jobs (and records
#: how their mail went). The same pause whether a job made mail or not: the write lock is
#: taken at the same moment in both cases (issue 9). Mail slower to send than this ends later.
SETTLE_DELAY = 0.05
#: Seconds from a request to the write transaction of its job's decision. The reads and the
#: mail's rendering happen first, and take longer for a known address; the write lock is then
#: taken at this fixed moment either way, so a request that follows waits the same (issue 9).
DECIDE_DELAY = 0.02


class RetryJob(Exception):
    """Raised by a handler's decision when what it read changed before it could write: the
    job is tried again."""


class JobQueue:
    """Store jobs and run them; the outbox owns one, reached through ``portal.mail``
    (``flush()``, ``wait()``)."""

    def __init__(
        self, rt: Runtime, *, send: Callable[[Sequence[OutboxMessage]], list[OutboxMessage]]
    ) -> None:
        self._rt = rt
        self._send = send  # the outbox's delivery of claimed mail
        self._handlers: dict[str, Handler] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wanted = 0  # passes asked for by this process's requests
        self._done = 0  # passes completed (the value of _wanted a pass began with)
        self._retry_later = True  # look for stored jobs when the thread starts
        # Jobs this process's requests claimed for it, with when their decision may write.
        self._mine: deque[tuple[Job, float]] = deque()

    def handle(self, kind: str, handler: Handler) -> None:
        """Run ``handler`` for jobs of ``kind``."""
        self._handlers[kind] = handler

    # -- the request's side ---------------------------------------------------------------
    def submit(self, vendor_id: UUID, kind: str, payload: dict[str, Any]) -> None:
        """Store a job in a transaction of its own, the same statements for any payload,
        and wake the background thread. NotFound for a vendor that does not exist."""
        now = self._rt.clock.now()
        sealed = self._rt.seal(json.dumps(payload, separators=(",", ":")))
        job = Job(
            id=ordered_id(now),
            vendor_id=vendor_id,
            kind=kind,
            created_at=now,
            # Born claimed by this process's thread: if the process stops, the lease runs
            # out and any worker takes it.
            due_at=now + timedelta(seconds=self._rt.settings.mail_lease_seconds),
            payload=sealed,
        )
        with self._rt.transaction() as uow:
            if uow.vendors.get(vendor_id) is None:
                raise NotFound("vendor", vendor_id)
            uow.jobs.add(job)
        self._kick(job)

    def _kick(self, job: Job) -> None:
        with self._cond:
            self._mine.append((job, time.monotonic() + DECIDE_DELAY))
            self._wanted += 1
            if self._thread is None or not self._thread.is_alive():
                # One long-lived thread, not one per job: starting a thread makes the caller
                # wait while the new thread runs, so its time would follow the job's work.
                self._thread = threading.Thread(
                    target=self._work, name="portalkit-background", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _work(self) -> None:
        settings = self._rt.settings
        while True:
            with self._cond:
                while self._done >= self._wanted:
                    if not self._cond.wait(
                        settings.mail_retry_seconds if self._retry_later else None
                    ):
                        break  # a retry may be due: look again
                target = self._wanted
            try:
                while self._mine:
                    batch = [self._mine.popleft() for _ in range(min(_BATCH, len(self._mine)))]
                    self._run_claimed([job for job, _ in batch], [at for _, at in batch])
                if self._retry_later:
                    self.run()  # stored jobs: retries, and what a stopped process left
            except BaseException:
                # Whatever a pass raises (storage down), the thread lives on; the jobs stay
                # stored and are claimed again.
                log.exception("a background pass failed")
                self._retry_later = True
            with self._cond:
                self._done = max(self._done, target)
                self._cond.notify_all()

    def wait(self) -> None:
        """Wait until the background thread has run a pass over the jobs this process
        queued so far (each done, or waiting for its retry)."""
        with self._cond:
            target = self._wanted
            while self._done < target and self._thread is not None and self._thread.is_alive():
                self._cond.wait(1.0)

    # -- the worker's side ----------------------------------------------------------------
    def run(self, limit: int | None = None) -> int:
        """Claim and run the jobs that are due (up to ``limit``); returns how many ended
        (done or given up)."""
        ended = 0
        retry = False
        while limit is None or ended < limit:
            size = _BATCH if limit is None else min(_BATCH, limit - ended)
            now = self._rt.clock.now()
            lease = now + timedelta(seconds=self._rt.settings.mail_lease_seconds)
            with self._rt.transaction() as uow:
                claimed = uow.claim_jobs(now, size, lease)
            if not claimed:
                break
            done, again = self._run_claimed(claimed)
            ended += done
            retry = retry or again
        self._retry_later = retry
        return ended

    def _run_claimed(
        self, claimed: Sequence[Job], write_at: Sequence[float] = ()
    ) -> tuple[int, bool]:
        """Decide each claimed job (not writing before its ``write_at``, a monotonic time),
        send the mail of all of them, and end them together in one transaction,
        :data:`SETTLE_DELAY` after the first decision. Returns how many ended and whether
        some wait for a retry."""
        settle_at = max([time.monotonic(), *write_at[:1]]) + SETTLE_DELAY
        finished: list[Job] = []
        mail: list[OutboxMessage] = []
        retry = False
        for n, job in enumerate(claimed):
            try:
                if job.stage is JobStage.PENDING:
                    job, made = self._decide(job, write_at[n] if n < len(write_at) else None)
                    mail += made
                # else: decided by an earlier attempt, its mail in the outbox already
                finished.append(job)
            except ConcurrentModification:
                continue  # our lease ran out and another worker took it
            except Exception as exc:
                retry = not self._failed(job, exc) or retry
        outcomes = self._send(mail) if mail else []
        pause = settle_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if not finished:
            return 0, retry
        with self._rt.transaction() as uow:
            if outcomes:
                uow.settle_outbox(outcomes)
            for job in finished:
                uow.delete_job(job.vendor_id, job.id, job.version)
        return len(finished), retry

    def _decide(self, job: Job, write_at: float | None) -> tuple[Job, list[OutboxMessage]]:
        handler = self._handlers.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for background jobs of kind {job.kind!r}")
        payload = json.loads(self._rt.open(job.payload))
        decision = handler(job, payload)
        if write_at is not None and (pause := write_at - time.monotonic()) > 0:
            time.sleep(pause)  # the write lock at the same moment, known address or not
        decided = attrs.evolve(
            job, stage=JobStage.DECIDED, payload="", last_error="", version=job.version + 1
        )
        with self._rt.transaction() as uow:
            # Mail queued by the decision is claimed for this worker, to send right after.
            mail: list[OutboxMessage] = self._rt.transaction_bag().setdefault("job_mail", [])
            decision(uow)
            # Conditional on our claim: of two workers, only one decision commits.
            uow.jobs.update(decided, job.version)
        return decided, mail

    def _failed(self, job: Job, exc: Exception) -> bool:
        settings = self._rt.settings
        attempts = job.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:300]
        now = self._rt.clock.now()
        if not isinstance(exc, RetryJob):
            log.warning("background job %s (%s) failed: %s", job.id, job.kind, error)
        try:
            with self._rt.transaction() as uow:
                if attempts >= settings.mail_max_attempts:
                    # Given up: the payload goes with it; the log and the audit log keep why.
                    if uow.delete_job(job.vendor_id, job.id, job.version):
                        log.error("background job %s (%s) given up: %s", job.id, job.kind, error)
                        self._rt.record(
                            uow,
                            vendor_id=job.vendor_id,
                            action="background_job_failed",
                            real=System(vendor_id=job.vendor_id, reason=job.kind),
                            target=f"job:{job.id}",
                            reason=type(exc).__name__,
                            outcome="failure",
                        )
                    return True
                jitter = 1 + random.random() * 0.2  # noqa: S311 - not security relevant
                delay = 0.0 if isinstance(exc, RetryJob) and attempts == 1 else 1.0
                delay *= min(
                    settings.mail_retry_seconds * 2 ** (attempts - 1) * jitter,
                    settings.mail_retry_max_seconds,
                )
                uow.jobs.update(
                    attrs.evolve(
                        job,
                        attempts=attempts,
                        last_error=error,
                        due_at=now + timedelta(seconds=delay),
                        version=job.version + 1,
                    ),
                    job.version,
                )
        except ConcurrentModification:
            return False  # another worker holds it now
        return False
