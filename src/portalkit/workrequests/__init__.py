"""Work requests (field-service seed): a member asks the vendor for work at one of its
sites, with a subject, notes (up to 4,000 characters) and a wished date and time that stays
tentative until the vendor schedules the work; the answer flows back to the member."""

from portalkit.workrequests.model import NOTES_MAX, WorkRequest
from portalkit.workrequests.service import WORK_REQUESTS, WorkRequestService

__all__ = ["NOTES_MAX", "WORK_REQUESTS", "WorkRequest", "WorkRequestService"]
