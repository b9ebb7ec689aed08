"""The single permission gate every service calls before it reads or writes on a principal's behalf.

``authorize(principal, action, resources, context)`` raises AccessDenied unless:

1. every resource ARN is in the principal's own account (accounts are walls, even for an admin policy);
2. the principal is the account's root user (allowed everything in its account), or a RAM user whose
   pooled policies (its own plus its groups') allow ``action`` on every resource, with no explicit Deny.

Condition keys come from the principal (``acs:SourceIp``, ``acs:SecureTransport``, ``acs:MFAPresent``),
the clock (``acs:CurrentTime``) and the caller's ``context`` (e.g. ``ecs:CommandRunAs``). A caller may pass
``context["resource_tags"] = {arn: {key: value}}``: the tags of each resource are seen as
``acs:ResourceTag/<key>`` and ``ecs:tag/<key>`` while that resource is evaluated. The decision itself is
``console.iam.policy.decide`` (pure); this module only loads the policies, in one query.

Every refusal by ``authorize`` goes to the audit trail (``console.audit.services.access_denied_record``:
into the request's collector, or stored at once); ``can`` and ``allowed_resources`` only answer.
"""

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from django.utils import timezone

from console.audit import services as audit_services
from console.errors import ServiceError
from console.iam import policy
from console.iam.principal import Principal, principal_arn
from console.iam.selectors import attached_policies_of_user

logger = logging.getLogger(__name__)

RESOURCE_TAGS = "resource_tags"


class AccessDenied(ServiceError):
    def __init__(self, action: str, resource: str) -> None:
        super().__init__(
            "Forbidden.RAM",
            f"User not authorized to operate on the specified resource: {action} on {resource}.",
            status=403,
        )
        self.action = action
        self.resource = resource


def request_context(principal: Principal) -> dict[str, policy.ContextValue]:
    """The global condition keys the server knows about the caller. Callers cannot override them."""
    return {
        "acs:SourceIp": principal.source_ip,
        "acs:CurrentTime": timezone.now().astimezone(UTC).isoformat(),
        "acs:SecureTransport": principal.secure_transport,
        "acs:MFAPresent": False,
    }


def _request(
    principal: Principal, action: str, resources: list[str], context: Mapping[str, Any] | None
) -> policy.Request:
    extra = dict(context or {})
    tags = extra.pop(RESOURCE_TAGS, None) or {}
    merged = {**extra, **request_context(principal)}
    if not principal.source_ip:
        del merged["acs:SourceIp"]  # unknown is absent, not "" (which no IpAddress would match anyway)
    return policy.Request(action, tuple(resources), merged, tags, principal_arn(principal))


def decision_for(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
) -> policy.Decision:
    """The full decision (with the statements that made it), for explanations and the simulator."""
    request = _request(principal, action, list(resources), context)
    attached: list[policy.AttachedPolicy] = []
    if not principal.is_root and all(policy.account_of(r) == principal.account_id for r in request.resources):
        try:
            attached = attached_policies_of_user(principal.user_id)
        except policy.PolicyDocumentError:
            logger.exception("a stored policy of user %s no longer parses; refusing", principal.user_id)
            return policy.Decision("ImplicitDeny", (), request.resources[0] if request.resources else None)
    return policy.decide(
        principal_type="root-account" if principal.is_root else "ram-user",
        account_id=principal.account_id,
        request=request,
        policies=attached,
    )


def authorize(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
) -> None:
    """Raise AccessDenied unless ``principal`` may perform ``action`` on every one of ``resources``."""
    resources = list(resources)
    decision = decision_for(principal, action, resources, context)
    if not decision.allowed:
        denied = AccessDenied(action, decision.resource or (resources[0] if resources else "*"))
        audit_services.access_denied_record(principal, action, denied.resource, denied.message)
        raise denied


def can(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
) -> bool:
    """``authorize`` as a yes/no, for selectors and templates (hiding a button is never the check)."""
    return decision_for(principal, action, resources, context).allowed


def allowed_resources(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
) -> set[str]:
    """The subset of ``resources`` on which ``principal`` may perform ``action`` (each judged alone), with
    the principal's policies loaded once: how selectors filter lists to what may be seen."""
    resources = list(resources)
    if principal.is_root:
        return {r for r in resources if policy.account_of(r) == principal.account_id}
    try:
        attached = attached_policies_of_user(principal.user_id)
    except policy.PolicyDocumentError:
        logger.exception("a stored policy of user %s no longer parses; refusing", principal.user_id)
        return set()
    allowed = set()
    for resource in resources:
        request = _request(principal, action, [resource], context)
        decision = policy.decide(
            principal_type="ram-user", account_id=principal.account_id, request=request, policies=attached
        )
        if decision.allowed:
            allowed.add(resource)
    return allowed


def decision_for_user(
    subject: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, policy.ContextValue] | None = None,
    resource_tags: Mapping[str, Mapping[str, str]] | None = None,
) -> policy.Decision:
    """The policy simulator: what ``subject``'s pooled policies decide in a context the caller states
    (only ``acs:CurrentTime`` defaults to now). Same account wall and root rule as ``authorize``."""
    request = policy.Request(
        action,
        tuple(resources),
        {"acs:CurrentTime": timezone.now().astimezone(UTC).isoformat(), **(context or {})},
        resource_tags or {},
        principal_arn(subject),
    )
    attached = [] if subject.is_root else attached_policies_of_user(subject.user_id)
    return policy.decide(
        principal_type="root-account" if subject.is_root else "ram-user",
        account_id=subject.account_id,
        request=request,
        policies=attached,
    )
