"""Template tags: ``{% load portalkit %}``, then ``{% can "orders.create" %}…{% else %}…
{% endcan %}`` (``{% can "orders.edit" order "orders" %}`` for one record) and ``{% visible_fields "orders" "number rate total" as columns %}``."""

from __future__ import annotations

from typing import Any

from django import template

from portalkit_django.decorators import visible_fields as _visible_fields

register = template.Library()


class _CanNode(template.Node):
    def __init__(self, capability: Any, record: Any, resource: Any, yes: Any, no: Any) -> None:
        self.capability = capability
        self.record = record
        self.resource = resource
        self.yes = yes
        self.no = no

    def render(self, context: Any) -> str:
        request = context.get("request")
        access = getattr(request, "portal_access", None)
        capability = self.capability.resolve(context)
        record = resource = None
        if self.record is not None:
            record = self.record.resolve(context)
            resource = self.resource.resolve(context)
        allowed = access is not None and access.allows(capability, record, resource)
        return str((self.yes if allowed else self.no).render(context))


@register.tag("can")
def can(parser: Any, token: Any) -> _CanNode:
    """``{% can "capability" [record "resource"] %}…{% else %}…{% endcan %}``: the first part
    only for a member holding the capability (on ``record`` of the resource type named, if
    given). Needs ``request`` in the context (``django.template.context_processors.request``).
    """
    bits = token.split_contents()
    if len(bits) not in (2, 4):
        raise template.TemplateSyntaxError('{% can "capability" [record "resource"] %}')
    capability = parser.compile_filter(bits[1])
    record = parser.compile_filter(bits[2]) if len(bits) == 4 else None
    resource = parser.compile_filter(bits[3]) if len(bits) == 4 else None
    yes = parser.parse(("else", "endcan"))
    no = template.NodeList()
    if parser.next_token().contents == "else":
        no = parser.parse(("endcan",))
        parser.delete_first_token()
    return _CanNode(capability, record, resource, yes, no)


@register.simple_tag(takes_context=True)
def visible_fields(context: Any, resource: str, fields: str) -> list[str]:
    """The ``fields`` (separated by spaces) of ``resource`` the member may see, in order."""
    return _visible_fields(context.get("request"), resource, fields.split())
