"""Writes of the audit trail. Every function here is called on a request's way out and must never break
it: a failure to record is logged (logger ``console.audit``) and swallowed.

Events belong to an account: a request whose account cannot be told (an unknown access key, a login to an
account that does not exist) is logged, not stored, so anonymous traffic cannot fill the table.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from console.audit.collect import Denial, RequestAudit
from console.audit.models import AuditEvent

logger = logging.getLogger("console.audit")

_READ_PREFIXES = ("Describe", "List", "Get", "Query", "Lookup", "Simulate")
MAX_DENIALS = 20
SOURCES = frozenset(value for value, _ in AuditEvent.SOURCES)


def event_rw(event_name: str) -> str:
    return "Read" if event_name.startswith(_READ_PREFIXES) else "Write"


@dataclass(frozen=True)
class Identity:
    """``userIdentity`` of an event; every field may be empty when the caller is not known."""

    account_id: str
    identity_type: str = ""
    principal_id: str = ""
    user_name: str = ""
    access_key_id: str = ""

    @classmethod
    def of_principal(cls, principal: Any) -> "Identity":
        if getattr(principal, "is_role_session", False):
            return cls(
                account_id=principal.account_id,
                identity_type="assumed-role",
                principal_id=f"{principal.role_id}:{principal.session_name}",
                user_name=f"{principal.user_name} as {principal.role_name}/{principal.session_name}"[:140],
                access_key_id=principal.access_key_id,
            )
        return cls(
            account_id=principal.account_id,
            identity_type="root-account" if principal.is_root else "ram-user",
            principal_id=str(principal.user_id),
            user_name=principal.user_name,
            access_key_id=principal.access_key_id,
        )

    @classmethod
    def of_user(cls, user: Any, access_key_id: str = "") -> "Identity":
        return cls(
            account_id=user.account_id,
            identity_type="root-account" if user.is_root else "ram-user",
            principal_id=str(user.pk),
            user_name=user.name,
            access_key_id=access_key_id,
        )


@dataclass
class Outcome:
    success: bool
    error_code: str = ""
    error_message: str = ""
    http_status: int | None = None
    denials: list[Denial] = field(default_factory=list)


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def audit_event_record(
    *,
    identity: Identity,
    event_name: str,
    event_type: str,
    source: str,
    outcome: Outcome,
    source_ip: str = "",
    user_agent: str = "",
    request_id: str = "",
    request_parameters: Mapping[str, Any] | None = None,
    resources: Iterable[str] = (),
    referenced: Mapping[str, list[str]] | None = None,
    additional: Mapping[str, Any] | None = None,
) -> AuditEvent | None:
    """Store one event (already redacted parameters). ``additional``: more of ``additionalEventData``
    (e.g. a websocket's close code). Returns None, having logged why, when it could not."""
    if not identity.account_id:
        logger.info("audit: not stored (no account): %s %s %s", source, event_name, outcome.error_code)
        return None
    denials = outcome.denials[:MAX_DENIALS]
    listed = list(dict.fromkeys([*resources, *(d.resource for d in denials)]))
    event_data: dict[str, Any] = dict(additional or {})
    if referenced:
        event_data["referencedResources"] = dict(referenced)
    if denials:
        event_data["denied"] = [{"action": d.action, "resource": d.resource} for d in denials]
    try:
        event = AuditEvent(
            event_name=_clip(event_name or "?", 128),
            event_type=event_type,
            event_rw=event_rw(event_name),
            source=source,
            account_id=identity.account_id,
            identity_type=identity.identity_type,
            principal_id=identity.principal_id,
            user_name=_clip(identity.user_name, 140),
            access_key_id=_clip(identity.access_key_id, 64),
            source_ip=_clip(source_ip, 64),
            user_agent=_clip(user_agent, 512),
            request_id=_clip(request_id, 64),
            request_parameters=dict(request_parameters or {}),
            resources=listed[:100],
            success=outcome.success and not denials,
            allowed=not denials,
            error_code=_clip(outcome.error_code or ("Forbidden.RAM" if denials else ""), 128),
            error_message=_clip(outcome.error_message, 1024),
            http_status=outcome.http_status,
            additional=event_data,
        )
        event.full_clean(validate_unique=False, validate_constraints=False)
        event.save(force_insert=True)
        return event
    except Exception:
        logger.exception(
            "audit: could not store %s %s for account %s", source, event_name, identity.account_id
        )
        return None


def _inside_transaction() -> bool:
    """A write now would be rolled back with the refusal. (The test runner's own wrapping transactions,
    marked by Django as ``_from_testcase``, do not count: they stand for autocommit.)"""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def access_denied_record(principal: Any, action: str, resource: str, message: str) -> None:
    """``authorize`` refused ``principal``. The request's collector takes it when there is one; otherwise
    (websocket consumers, tasks) the refusal is stored at once, or only logged inside a transaction, which
    the refusal is about to roll back."""
    try:
        audit: RequestAudit | None = principal.audit
        if audit is not None:
            audit.deny(action, resource)
            return
        if _inside_transaction():
            logger.warning(
                "audit: refusal inside a transaction, not stored: %s %s %s on %s",
                principal.account_id,
                principal.user_name,
                action,
                resource,
            )
            return
        audit_event_record(
            identity=Identity.of_principal(principal),
            event_name=action,
            event_type="AccessDenied",
            source=principal.via if principal.via in SOURCES else "console",
            outcome=Outcome(
                success=False,
                error_code="Forbidden.RAM",
                error_message=message,
                denials=[Denial(action, resource)],
            ),
            source_ip=principal.source_ip,
        )
    except Exception:
        logger.exception("audit: could not note a refusal of %s", action)
