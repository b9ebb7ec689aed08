"""The single permission gate every service calls before it reads or writes on a principal's behalf.

``authorize(principal, action, resources, context)`` raises AccessDenied unless:

1. every resource ARN is in the principal's own account (accounts are walls, even for an admin policy);
2. the principal is the account's root user (allowed everything in its account), or a RAM user whose
   pooled policies (its own plus its groups') allow ``action`` on every resource, with no explicit Deny.

Condition keys come from the principal (``acs:SourceIp``, ``acs:SecureTransport``, ``acs:MFAPresent``),
the clock (``acs:CurrentTime``) and the caller's ``context`` (e.g. ``ecs:CommandRunAs``). A caller may pass
``context["resource_tags"] = {arn: {key: value}}``: the tags of each resource are seen as
``acs:ResourceTag/<key>`` and ``ecs:tag/<key>`` while that resource is evaluated; the tags stored on the
resources (``console.tags``) are loaded for that too, once per call and only when a policy of the principal
has a tag condition (caller-given tags win). The decision itself is
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
from console.iam.selectors import attached_policies_of_role, attached_policies_of_user

logger = logging.getLogger(__name__)

RESOURCE_TAGS = "resource_tags"
TAG_CONDITION_PREFIXES = ("acs:resourcetag/", "ecs:tag/")


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
        "acs:MFAPresent": principal.mfa_present,
    }


SESSION_POLICY_NAME = "session policy"


def policies_of(principal: Principal) -> list[policy.AttachedPolicy]:
    """The identity policies that apply to a non-root principal: a RAM user's own and its groups', or a
    role session's role policies. Raises PolicyDocumentError when a stored document no longer parses."""
    if principal.is_role_session:
        return attached_policies_of_role(principal.role_id)
    return attached_policies_of_user(principal.user_id)


def session_policy_of(principal: Principal) -> policy.AttachedPolicy | None:
    if not principal.session_policy:
        return None
    return policy.AttachedPolicy(SESSION_POLICY_NAME, policy.parse(principal.session_policy), "session")


def principal_type_of(principal: Principal) -> str:
    if principal.is_role_session:
        return "assumed-role"
    return "root-account" if principal.is_root else "ram-user"


def _tag_conditions_in(attached: Iterable[policy.AttachedPolicy]) -> bool:
    """Whether any statement has a condition on a resource tag (only then are tags worth loading)."""
    return any(
        condition.key.lower().startswith(TAG_CONDITION_PREFIXES)
        for entry in attached
        for statement in entry.policy.statements
        for condition in statement.conditions
    )


def _stored_tags(attached: list[policy.AttachedPolicy], resources: list[str]) -> dict[str, dict[str, str]]:
    if not _tag_conditions_in(attached):
        return {}
    from console.tags.selectors import tags_for_arns  # tags build on iam, not the other way round

    return tags_for_arns(resources)


def _request(
    principal: Principal,
    action: str,
    resources: list[str],
    context: Mapping[str, Any] | None,
    stored_tags: Mapping[str, Mapping[str, str]] | None = None,
) -> policy.Request:
    extra = dict(context or {})
    tags = {**(stored_tags or {}), **(extra.pop(RESOURCE_TAGS, None) or {})}
    merged = {**extra, **request_context(principal)}
    if not principal.source_ip:
        del merged["acs:SourceIp"]  # unknown is absent, not "" (which no IpAddress would match anyway)
    return policy.Request(action, tuple(resources), merged, tags, principal_arn(principal))


def decision_for(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
    trust_policy: policy.AttachedPolicy | None = None,
) -> policy.Decision:
    """The full decision (with the statements that made it), for explanations and the simulator."""
    resources = list(resources)
    attached: list[policy.AttachedPolicy] = []
    session = None
    if not principal.is_root and all(policy.account_of(r) == principal.account_id for r in resources):
        try:
            attached = policies_of(principal)
            session = session_policy_of(principal)
        except policy.PolicyDocumentError:
            logger.exception("a stored policy of %s no longer parses; refusing", principal_arn(principal))
            return policy.Decision("ImplicitDeny", (), resources[0] if resources else None)
    request = _request(principal, action, resources, context, _stored_tags(attached, resources))
    return policy.decide(
        principal_type=principal_type_of(principal),  # type: ignore[arg-type]
        account_id=principal.account_id,
        request=request,
        policies=attached,
        session_policy=session,
        trust_policy=trust_policy,
    )


def authorize(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
    trust_policy: policy.AttachedPolicy | None = None,
) -> None:
    """Raise AccessDenied unless ``principal`` may perform ``action`` on every one of ``resources`` (and,
    for ``sts:AssumeRole``, unless the role's ``trust_policy`` lets the principal in too)."""
    resources = list(resources)
    decision = decision_for(principal, action, resources, context, trust_policy)
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
        attached = policies_of(principal)
        session = session_policy_of(principal)
    except policy.PolicyDocumentError:
        logger.exception("a stored policy of %s no longer parses; refusing", principal_arn(principal))
        return set()
    stored_tags = _stored_tags(attached, resources)
    allowed = set()
    for resource in resources:
        request = _request(principal, action, [resource], context, stored_tags)
        decision = policy.decide(
            principal_type=principal_type_of(principal),  # type: ignore[arg-type]
            account_id=principal.account_id,
            request=request,
            policies=attached,
            session_policy=session,
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
    """The policy simulator: what ``subject``'s pooled policies (a user's, or a role session's with its
    session policy) decide in a context the caller states (only ``acs:CurrentTime`` defaults to now).
    Same account wall and root rule as ``authorize``."""
    request = policy.Request(
        action,
        tuple(resources),
        {"acs:CurrentTime": timezone.now().astimezone(UTC).isoformat(), **(context or {})},
        resource_tags or {},
        principal_arn(subject),
    )
    attached = [] if subject.is_root else policies_of(subject)
    return policy.decide(
        principal_type=principal_type_of(subject),  # type: ignore[arg-type]
        account_id=subject.account_id,
        request=request,
        policies=attached,
        session_policy=session_policy_of(subject),
    )
