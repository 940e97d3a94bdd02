"""Service-desk tickets (service-desk seed): members file, comment on, follow and close
tickets; main users (scope ``customer`` for ``tickets``) see every ticket of their company,
users (scope ``own``) only their own. The vendor works them from the inbox."""

from portalkit.tickets.model import TEXT_MAX, Ticket
from portalkit.tickets.service import TICKETS, TicketService

__all__ = ["TEXT_MAX", "TICKETS", "Ticket", "TicketService"]
