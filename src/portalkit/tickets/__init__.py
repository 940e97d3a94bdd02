"""Service-desk tickets (service-desk seed): members file, comment on, follow and close
tickets; main users (scope ``customer`` for ``tickets``) see every ticket of their company,
users (scope ``own``) only their own. The vendor works them from the inbox."""

from portalkit.tickets.model import ATTACHMENTS_MAX, TEXT_MAX, Ticket, TicketAttachment
from portalkit.tickets.service import TICKETS, TicketService

__all__ = ["ATTACHMENTS_MAX", "TEXT_MAX", "TICKETS", "Ticket", "TicketAttachment", "TicketService"]
