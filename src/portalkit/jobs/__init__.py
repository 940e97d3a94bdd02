"""Background jobs: work a request hands on, stored so that no process stop loses it.

The job's model lives in :mod:`portalkit.jobs.model`; how a job is claimed, decided and
ended, and why at fixed moments, in :mod:`portalkit.jobs.queue`.
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
