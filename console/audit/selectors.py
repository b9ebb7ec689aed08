"""Reads of the audit trail for a principal: only its own account's events, and only with
``actiontrail:LookupEvents`` on ``acs:actiontrail:*:<account>:*`` (the root user has it; a RAM user needs
a policy, e.g. AdministratorAccess). A refusal raises AccessDenied, which is itself recorded."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from console.audit.models import AuditEvent
from console.iam.authz import authorize
from console.iam.principal import Principal

LOOKUP_EVENTS = "actiontrail:LookupEvents"
RESULTS = ("success", "error", "denied")
SOURCES = tuple(value for value, _ in AuditEvent.SOURCES)


def trail_arn(account_id: str) -> str:
    return f"acs:actiontrail:*:{account_id}:*"


@dataclass(frozen=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    user: str = ""
    event: str = ""
    result: str = ""
    source: str = ""
    resource: str = ""
    access_key: str = ""


def events_visible(principal: Principal) -> QuerySet[AuditEvent]:
    authorize(principal, LOOKUP_EVENTS, [trail_arn(principal.account_id)])
    return AuditEvent.objects.filter(account_id=principal.account_id)


def events_search(principal: Principal, wanted: EventFilter) -> QuerySet[AuditEvent]:
    """Newest first. ``event`` matches part of the event name, ``user`` the user name exactly,
    ``resource`` part of a resource's ARN or of an id the request named (an instance, invocation, command,
    ...), ``access_key`` the signing key's id exactly."""
    events = events_visible(principal)
    if wanted.since is not None:
        events = events.filter(event_time__gte=wanted.since)
    if wanted.until is not None:
        events = events.filter(event_time__lt=wanted.until)
    if wanted.user:
        events = events.filter(user_name=wanted.user)
    if wanted.event:
        events = events.filter(event_name__icontains=wanted.event)
    if wanted.source:
        events = events.filter(source=wanted.source)
    if wanted.access_key:
        events = events.filter(access_key_id=wanted.access_key)
    if wanted.resource:
        # The ARNs and the referenced ids are JSON; their text is searched (within the account's rows).
        events = events.annotate(
            resources_text=Cast("resources", TextField()), additional_text=Cast("additional", TextField())
        ).filter(Q(resources_text__icontains=wanted.resource) | Q(additional_text__icontains=wanted.resource))
    if wanted.result == "success":
        events = events.filter(success=True)
    if wanted.result == "error":
        events = events.filter(success=False, allowed=True)
    if wanted.result == "denied":
        events = events.filter(allowed=False)
    return events.order_by("-event_time", "-pk")
