"""The policy simulator's request format (issue 4), read into ``policy.decide``. Pure: no Django.

```
{"principal": {"type": "ram-user" | "assumed-role" | "root-account", "arn": "acs:ram::<account>:..."},
 "policies": [{"attached": "user" | "group:<name>" | "role" | "session" | "trust", "document": {...},
               "name": "optional"}],
 "action": "ecs:RunCommand",
 "resource": "arn" | ["arn", ...],            # a list: every resource must be allowed
 "resource_tags": {"<arn>": {"key": "value"}},
 "context": {"acs:SourceIp": "...", ...}}
```

With a principal ARN the account wall applies as in the console (resources of another account are never
allowed, the root user is allowed everything in its own account). ``session`` policies must allow too;
a ``trust`` policy (a role's, for ``sts:AssumeRole``) must allow the principal ARN too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from console.iam import policy

PRINCIPAL_TYPES = ("ram-user", "assumed-role", "root-account")
_IDENTITY_PLACES = ("user", "role")
_REQUEST_KEYS = ("principal", "policies", "action", "resource", "resource_tags", "context")


class SimulationError(ValueError):
    """The request itself is wrong; the message says where."""


def _context(raw: Any) -> dict[str, policy.ContextValue]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SimulationError("context: must be an object of condition keys to values")
    context: dict[str, policy.ContextValue] = {}
    for key, value in raw.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            context[key] = [str(v) for v in value]
        elif isinstance(value, str | bool | int | float):
            context[key] = value
        else:
            raise SimulationError(f"context.{key}: must be a string, number, boolean or list of strings")
    return context


def _resource_tags(raw: Any) -> dict[str, dict[str, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SimulationError("resource_tags: must be an object of ARNs to {key: value} objects")
    tags: dict[str, dict[str, str]] = {}
    for arn, pairs in raw.items():
        if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
            raise SimulationError(f"resource_tags.{arn}: must be an object of tag keys to string values")
        tags[arn] = {str(k): str(v) for k, v in pairs.items()}
    return tags


def _resources(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and raw and all(isinstance(r, str) for r in raw):
        return tuple(raw)
    raise SimulationError("resource: must be an ARN or a non-empty list of ARNs")


def simulate(request: Mapping[str, Any]) -> policy.Decision:
    """The decision for one simulator request; SimulationError when the request is malformed."""
    if not isinstance(request, Mapping):
        raise SimulationError("the request must be a JSON object")
    unknown = [k for k in request if k not in _REQUEST_KEYS]
    if unknown:
        raise SimulationError(f"unknown field(s): {', '.join(unknown)}")
    principal = request.get("principal") or {}
    if not isinstance(principal, dict):
        raise SimulationError("principal: must be an object with type and arn")
    principal_type = principal.get("type", "ram-user")
    if principal_type not in PRINCIPAL_TYPES:
        raise SimulationError(f"principal.type: must be one of {', '.join(PRINCIPAL_TYPES)}")
    principal_arn = principal.get("arn", "")
    if not isinstance(principal_arn, str):
        raise SimulationError("principal.arn: must be a string")
    action = request.get("action")
    if not isinstance(action, str) or not action:
        raise SimulationError('action: is required, e.g. "ecs:RunCommand"')

    identity: list[policy.AttachedPolicy] = []
    session: policy.AttachedPolicy | None = None
    trust: policy.AttachedPolicy | None = None
    raw_policies = request.get("policies") or []
    if not isinstance(raw_policies, list):
        raise SimulationError("policies: must be a list")
    for i, entry in enumerate(raw_policies):
        where = f"policies[{i}]"
        if not isinstance(entry, dict):
            raise SimulationError(f"{where}: must be an object with attached and document")
        attached = entry.get("attached", "user")
        if not isinstance(attached, str) or not (
            attached in (*_IDENTITY_PLACES, "session", "trust") or attached.startswith("group:")
        ):
            raise SimulationError(f"{where}.attached: must be user, group:<name>, role, session or trust")
        name = entry.get("name") or where
        kind: policy.PolicyKind = "trust" if attached == "trust" else "identity"
        limit = policy.MAX_SESSION_POLICY_CHARS if attached == "session" else policy.MAX_DOCUMENT_CHARS
        document = entry.get("document")
        if not isinstance(document, str | dict):
            raise SimulationError(f"{where}.document: must be a policy document (object or JSON text)")
        try:
            parsed = policy.parse(document, kind=kind, max_chars=limit)
        except policy.PolicyDocumentError as error:
            raise SimulationError(f"{where}.document: {error}") from error
        placed = policy.AttachedPolicy(str(name), parsed, attached)
        if attached == "session":
            if session is not None:
                raise SimulationError(f"{where}: only one session policy")
            session = placed
        elif attached == "trust":
            if trust is not None:
                raise SimulationError(f"{where}: only one trust policy")
            trust = placed
        else:
            identity.append(placed)

    evaluated = policy.Request(
        action=action,
        resources=_resources(request.get("resource")),
        context=_context(request.get("context")),
        resource_tags=_resource_tags(request.get("resource_tags")),
        principal_arn=principal_arn,
    )
    account = policy.account_of(principal_arn)
    kind_of_principal = cast(Literal["root-account", "ram-user", "assumed-role"], principal_type)
    if not account:
        if kind_of_principal == "root-account":
            raise SimulationError(
                "principal.arn: a root-account principal needs its ARN (acs:ram::<account>:root)"
            )
        return policy.evaluate(evaluated, identity, session, trust)
    return policy.decide(
        principal_type=kind_of_principal,
        account_id=account,
        request=evaluated,
        policies=identity,
        session_policy=session,
        trust_policy=trust,
    )
