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

from portalkit.jobs.model import (
    Job,
    JobStage,
)
from portalkit.jobs.queue import (
    DECIDE_DELAY as DECIDE_DELAY,
)
from portalkit.jobs.queue import (
    SETTLE_DELAY as SETTLE_DELAY,
)
from portalkit.jobs.queue import (
    Decision as Decision,
)
from portalkit.jobs.queue import (
    Handler as Handler,
)
from portalkit.jobs.queue import (
    JobQueue as JobQueue,
)
from portalkit.jobs.queue import (
    RetryJob as RetryJob,
)

__all__ = [
    "Job",
    "JobStage",
]
