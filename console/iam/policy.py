"""RAM policy documents: validation, parsing and evaluation. Pure: no Django, no I/O, no clock.

Semantics follow ``shared/reference/ram-policies.md`` §1–3 (see ``docs/permissions.md``):

* A document is ``{"Version": "1", "Statement": [...]}``; a single value anywhere a list is allowed is a
  one-element list. ``validate`` reports every problem with its place (``Statement[2].Action[0]``).
* Actions match case-insensitively, resource ARNs case-sensitively; in both ``*`` is any run of characters
  (separators included) and ``?`` exactly one; every other character is literal.
* Conditions: several values of one key OR, several keys and several operators AND; an absent key makes
  a positive operator false and a negated one (``...Not...``, ``NotIpAddress``) true. ``...IfExists``,
  ``Null`` and the set qualifiers are not RAM's and are refused.
* ``evaluate``: for every resource, an applicable Deny anywhere wins, else an applicable Allow allows,
  else implicit deny; every resource must be allowed. A session policy, when given, must allow too.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

MAX_DOCUMENT_CHARS = 6144
MAX_SESSION_POLICY_CHARS = 2048

Effect = Literal["Allow", "Deny"]
DecisionEffect = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]
PolicyKind = Literal["identity", "trust"]
ContextValue = str | bool | int | float | datetime | Sequence[str]

# Operator -> (family, negated). Negated operators are true when the key is absent.
OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("String", False),
    "StringNotEquals": ("String", True),
    "StringEqualsIgnoreCase": ("StringIgnoreCase", False),
    "StringNotEqualsIgnoreCase": ("StringIgnoreCase", True),
    "StringLike": ("StringLike", False),
    "StringNotLike": ("StringLike", True),
    "NumericEquals": ("Numeric=", False),
    "NumericNotEquals": ("Numeric=", True),
    "NumericLessThan": ("Numeric<", False),
    "NumericLessThanEquals": ("Numeric<=", False),
    "NumericGreaterThan": ("Numeric>", False),
    "NumericGreaterThanEquals": ("Numeric>=", False),
    "DateEquals": ("Date=", False),
    "DateNotEquals": ("Date=", True),
    "DateLessThan": ("Date<", False),
    "DateLessThanEquals": ("Date<=", False),
    "DateGreaterThan": ("Date>", False),
    "DateGreaterThanEquals": ("Date>=", False),
    "Bool": ("Bool", False),
    "IpAddress": ("Ip", False),
    "NotIpAddress": ("Ip", True),
}

_TOP_LEVEL = ("Version", "Statement")
_STATEMENT_ELEMENTS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
_TRUST_ELEMENTS = ("Sid", "Effect", "Action", "NotAction", "Principal", "Condition")
_PRINCIPAL_KINDS = ("RAM", "Service", "Federated")

_ACTION = re.compile(r"^(\*|[A-Za-z0-9*?][A-Za-z0-9*?-]*:[A-Za-z0-9*?]+)$")
_ARN = re.compile(r"^(\*|acs:[a-z0-9*?-]+:[a-z0-9*?-]*:[A-Za-z0-9*?]*:\S+)$")
# A shortened ARN is fine when its last segment ends in ``*`` (``acs:ecs:*`` = every ECS resource).
_ARN_PREFIX = re.compile(r"^acs:[a-z0-9*?-]+(:[a-z0-9*?-]*(:[A-Za-z0-9*?]*)?)?$")
_CONDITION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:\S+$")


class PolicyDocumentError(ValueError):
    """Raised by ``parse`` with every problem ``validate`` found."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class ValidationError:
    """One problem: ``statement`` is the 0-based statement index (None outside statements), ``field`` the
    element path inside it (``Action[1]``, ``Condition.StringEquals.acs:SourceIp``), ``message`` why."""

    statement: int | None
    field: str
    message: str

    @property
    def path(self) -> str:
        if self.statement is None:
            return self.field
        return f"Statement[{self.statement}]" + (f".{self.field}" if self.field else "")

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    index: int
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]
    principals: tuple[tuple[str, str], ...] = ()  # trust policies: (kind, value)
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    kind: PolicyKind = "identity"


@dataclass(frozen=True)
class AttachedPolicy:
    """A parsed policy and where it came from: ``attached`` is ``user``, ``group:<name>``, ``role``, ..."""

    name: str
    policy: Policy
    attached: str = "user"


@dataclass(frozen=True)
class Request:
    """``context`` keys are condition keys (matched case-insensitively); ``resource_tags`` maps an ARN to
    its tags, seen as ``acs:ResourceTag/<k>`` and ``ecs:tag/<k>`` while that resource is evaluated."""

    action: str
    resources: tuple[str, ...]
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    resource_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    principal_arn: str = ""


@dataclass(frozen=True)
class MatchedStatement:
    policy: str
    attached: str
    statement: int
    effect: Effect
    resource: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "Policy": self.policy,
            "Attached": self.attached,
            "Statement": self.statement,
            "Effect": self.effect,
            "Resource": self.resource,
        }


@dataclass(frozen=True)
class Decision:
    """``resource`` is the first resource that was not allowed (None when allowed)."""

    effect: DecisionEffect
    matched: tuple[MatchedStatement, ...] = ()
    resource: str | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"

    def as_json(self) -> dict[str, Any]:
        return {"Decision": self.effect, "MatchedStatements": [m.as_json() for m in self.matched]}


# --------------------------------------------------------------------------------------------------------
# Validation


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(document: str | Mapping[str, Any], max_chars: int) -> tuple[Any, list[ValidationError]]:
    errors: list[ValidationError] = []
    if isinstance(document, str):
        text = document
        try:
            data: Any = json.loads(
                text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
            )
        except json.JSONDecodeError as error:
            return None, [ValidationError(None, "", f"not valid JSON: {error}")]
        except ValueError as error:
            return None, [ValidationError(None, "", f"not valid JSON: {error}")]
    else:
        data = document
        try:
            text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            return None, [ValidationError(None, "", f"not valid JSON: {error}")]
    if len(text) > max_chars:
        errors.append(
            ValidationError(None, "", f"the document has {len(text)} characters; at most {max_chars}")
        )
    return data, errors


def _strings(value: Any, where: str, statement: int | None, errors: list[ValidationError]) -> list[str]:
    """A string or a non-empty list of strings; anything else is reported."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if not value:
            errors.append(ValidationError(statement, where, "must not be an empty list"))
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                errors.append(
                    ValidationError(statement, f"{where}[{i}]", f"must be a string, not {_type(item)}")
                )
        return out
    errors.append(
        ValidationError(statement, where, f"must be a string or a list of strings, not {_type(value)}")
    )
    return []


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _indexed(where: str, values: list[str], i: int) -> str:
    return f"{where}[{i}]" if len(values) > 1 else where


def _check_value(family: str, value: str) -> str | None:
    """Why ``value`` cannot be a policy value of ``family``, or None."""
    if family.startswith("Numeric") and _number(value) is None:
        return f"{value!r} is not a number"
    if family.startswith("Date") and _date(value) is None:
        return f"{value!r} is not an ISO 8601 date-time"
    if family == "Bool" and value.lower() not in ("true", "false"):
        return f'{value!r} is not "true" or "false"'
    if family == "Ip" and _network(value) is None:
        return f"{value!r} is not an IP address or CIDR block"
    return None


def _validate_condition(block: Any, statement: int, errors: list[ValidationError]) -> list[Condition]:
    if not isinstance(block, dict):
        errors.append(ValidationError(statement, "Condition", f"must be an object, not {_type(block)}"))
        return []
    conditions: list[Condition] = []
    for operator, clause in block.items():
        where = f"Condition.{operator}"
        if operator not in OPERATORS:
            if operator.endswith("IfExists") or operator == "Null" or ":" in operator:
                why = "is not supported by RAM (no IfExists, Null or ForAnyValue/ForAllValues)"
            else:
                why = "is not a known condition operator"
            errors.append(ValidationError(statement, where, f"{operator!r} {why}"))
            continue
        family = OPERATORS[operator][0]
        if not isinstance(clause, dict) or not clause:
            errors.append(ValidationError(statement, where, "must be a non-empty object of keys to values"))
            continue
        for key, raw in clause.items():
            key_where = f"{where}.{key}"
            if not _CONDITION_KEY.match(key):
                errors.append(
                    ValidationError(statement, key_where, f"{key!r} is not a condition key (service:Key)")
                )
            values = _strings(raw, key_where, statement, errors)
            for i, value in enumerate(values):
                problem = _check_value(family, value)
                if problem:
                    errors.append(ValidationError(statement, _indexed(key_where, values, i), problem))
            conditions.append(Condition(operator, key, tuple(values)))
    return conditions


def _validate_statement(
    raw: Any, index: int, kind: PolicyKind, errors: list[ValidationError]
) -> Statement | None:
    if not isinstance(raw, dict):
        errors.append(ValidationError(index, "", f"must be an object, not {_type(raw)}"))
        return None
    allowed = _STATEMENT_ELEMENTS if kind == "identity" else _TRUST_ELEMENTS
    for name in raw:
        if name not in allowed:
            why = (
                "is only allowed in trust policies"
                if name == "Principal"
                else "is not allowed in trust policies"
                if name in ("Resource", "NotResource")
                else "is not a statement element"
            )
            errors.append(ValidationError(index, name, f"{name!r} {why}"))
    before = len(errors)
    if "Sid" in raw and not isinstance(raw["Sid"], str):
        errors.append(ValidationError(index, "Sid", "must be a string"))
    effect = raw.get("Effect")
    if "Effect" not in raw:
        errors.append(ValidationError(index, "Effect", "is required"))
    elif effect not in ("Allow", "Deny"):
        errors.append(ValidationError(index, "Effect", f'{effect!r} is not "Allow" or "Deny"'))

    actions = _pick(raw, "Action", "NotAction", index, errors, required=True)
    for i, action in enumerate(actions[1]):
        if not _ACTION.match(action):
            errors.append(
                ValidationError(
                    index,
                    _indexed(actions[0], actions[1], i),
                    f"{action!r} is not an action (service:Action, wildcards * and ?)",
                )
            )
    resources: tuple[str, list[str]] = ("Resource", [])
    if kind == "identity":
        resources = _pick(raw, "Resource", "NotResource", index, errors, required=True)
        for i, resource in enumerate(resources[1]):
            if not _ARN.match(resource) and not (resource.endswith("*") and _ARN_PREFIX.match(resource)):
                errors.append(
                    ValidationError(
                        index,
                        _indexed(resources[0], resources[1], i),
                        f"{resource!r} is not a resource ARN (acs:<service>:<region>:<account>:<id>, or *)",
                    )
                )
    principals: list[tuple[str, str]] = []
    if kind == "trust":
        principals = _validate_principal(raw.get("Principal"), "Principal" in raw, index, errors)
    conditions = _validate_condition(raw["Condition"], index, errors) if "Condition" in raw else []
    if len(errors) > before:
        return None
    return Statement(
        index=index,
        effect="Allow" if effect == "Allow" else "Deny",
        actions=tuple(actions[1]),
        not_action=actions[0] == "NotAction",
        resources=tuple(resources[1]),
        not_resource=resources[0] == "NotResource",
        conditions=tuple(conditions),
        principals=tuple(principals),
        source=raw,
    )


def _pick(
    raw: dict[str, Any],
    name: str,
    negated: str,
    index: int,
    errors: list[ValidationError],
    *,
    required: bool,
) -> tuple[str, list[str]]:
    if name in raw and negated in raw:
        errors.append(ValidationError(index, name, f"give either {name} or {negated}, not both"))
        return name, []
    if name not in raw and negated not in raw:
        if required:
            errors.append(ValidationError(index, name, f"{name} or {negated} is required"))
        return name, []
    used = name if name in raw else negated
    return used, _strings(raw[used], used, index, errors)


def _validate_principal(
    raw: Any, present: bool, index: int, errors: list[ValidationError]
) -> list[tuple[str, str]]:
    if not present:
        errors.append(ValidationError(index, "Principal", "is required in a trust policy"))
        return []
    if not isinstance(raw, dict) or not raw:
        errors.append(ValidationError(index, "Principal", 'must be an object such as {"RAM": [...]}'))
        return []
    out: list[tuple[str, str]] = []
    for kind, value in raw.items():
        if kind not in _PRINCIPAL_KINDS:
            errors.append(
                ValidationError(index, f"Principal.{kind}", f"{kind!r} is not RAM, Service or Federated")
            )
            continue
        out.extend((kind, v) for v in _strings(value, f"Principal.{kind}", index, errors))
    return out


def _validate(
    document: str | Mapping[str, Any], kind: PolicyKind, max_chars: int
) -> tuple[Policy | None, list[ValidationError]]:
    data, errors = _load(document, max_chars)
    if data is None and errors:
        return None, errors
    if not isinstance(data, dict):
        return None, [*errors, ValidationError(None, "", f"must be a JSON object, not {_type(data)}")]
    for name in data:
        if name not in _TOP_LEVEL:
            errors.append(ValidationError(None, name, f"{name!r} is not a policy element"))
    if "Version" not in data:
        errors.append(ValidationError(None, "Version", "is required"))
    elif data["Version"] != "1":
        errors.append(ValidationError(None, "Version", f'must be the string "1", not {data["Version"]!r}'))
    raw_statements = data.get("Statement")
    if "Statement" not in data:
        errors.append(ValidationError(None, "Statement", "is required"))
        raw_statements = []
    elif isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    elif not isinstance(raw_statements, list):
        errors.append(ValidationError(None, "Statement", f"must be a list, not {_type(raw_statements)}"))
        raw_statements = []
    elif not raw_statements:
        errors.append(ValidationError(None, "Statement", "must contain at least one statement"))
    statements = [_validate_statement(raw, i, kind, errors) for i, raw in enumerate(raw_statements)]
    if errors:
        return None, errors
    return Policy(tuple(s for s in statements if s is not None), kind), []


def validate(
    document: str | Mapping[str, Any],
    *,
    kind: PolicyKind = "identity",
    max_chars: int = MAX_DOCUMENT_CHARS,
) -> list[ValidationError]:
    """Every problem in ``document`` (JSON text or already-decoded dict); empty when it is valid."""
    return _validate(document, kind, max_chars)[1]


def parse(
    document: str | Mapping[str, Any],
    *,
    kind: PolicyKind = "identity",
    max_chars: int = MAX_DOCUMENT_CHARS,
) -> Policy:
    """The normalised policy; raises PolicyDocumentError listing every problem."""
    if isinstance(document, str):
        return _parse_text(document, kind, max_chars)
    policy, errors = _validate(document, kind, max_chars)
    if policy is None:
        raise PolicyDocumentError(errors)
    return policy


@lru_cache(maxsize=1024)
def _parse_text(document: str, kind: PolicyKind, max_chars: int) -> Policy:
    policy, errors = _validate(document, kind, max_chars)
    if policy is None:
        raise PolicyDocumentError(errors)
    return policy


# --------------------------------------------------------------------------------------------------------
# Matching


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` = any run (separators included), ``?`` = one character, everything else literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _action_matches(statement: Statement, action: str) -> bool:
    hit = any(glob_match(p, action, ignore_case=True) for p in statement.actions)
    return hit != statement.not_action


def _resource_matches(statement: Statement, resource: str) -> bool:
    hit = any(glob_match(p, resource) for p in statement.resources)
    return hit != statement.not_resource


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _date(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "=":
        return bool(a == b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _value_matches(family: str, actual: str, expected: str) -> bool:
    """Does one context value satisfy one policy value under the operator family (un-negated)?"""
    if family == "String":
        return actual == expected
    if family == "StringIgnoreCase":
        return actual.casefold() == expected.casefold()
    if family == "StringLike":
        return glob_match(expected, actual)
    if family == "Bool":
        return actual.lower() == expected.lower()
    if family == "Ip":
        network = _network(expected)
        try:
            address = ipaddress.ip_address(actual.strip())
        except ValueError:
            return False
        return network is not None and address.version == network.version and address in network
    parse_fn: Callable[[str], Any] = _number if family.startswith("Numeric") else _date
    left, right = parse_fn(actual), parse_fn(expected)
    if left is None or right is None:
        return False
    return _compare(family.removeprefix("Numeric").removeprefix("Date"), left, right)


def _context_strings(value: ContextValue) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return [moment.isoformat()]
    if isinstance(value, int | float | str):
        return [str(value)]
    return [str(v) for v in value]


def _condition_holds(condition: Condition, context: Mapping[str, list[str]]) -> bool:
    family, negated = OPERATORS[condition.operator]
    actual = context.get(condition.key.lower())
    if actual is None:
        return negated
    hit = any(_value_matches(family, a, e) for a in actual for e in condition.values)
    return hit != negated


def _statement_applies(
    statement: Statement, action: str, resource: str | None, context: Mapping[str, list[str]]
) -> bool:
    if not _action_matches(statement, action):
        return False
    if resource is not None and not _resource_matches(statement, resource):
        return False
    return all(_condition_holds(c, context) for c in statement.conditions)


def _normalised_context(request: Request, resource: str | None) -> dict[str, list[str]]:
    context = {key.lower(): _context_strings(value) for key, value in request.context.items()}
    if resource is not None:
        for key, value in request.resource_tags.get(resource, {}).items():
            context[f"acs:resourcetag/{key.lower()}"] = [value]
            context[f"ecs:tag/{key.lower()}"] = [value]
    return context


def _evaluate_set(request: Request, policies: Iterable[AttachedPolicy]) -> Decision:
    """One layer (identity or session policies) over every resource of the request."""
    policies = list(policies)
    if not request.resources:
        return Decision("ImplicitDeny")
    denied: list[MatchedStatement] = []
    allowed: list[MatchedStatement] = []
    first_denied: str | None = None
    first_unallowed: str | None = None
    for resource in request.resources:
        context = _normalised_context(request, resource)
        deny_here: list[MatchedStatement] = []
        allow_here: list[MatchedStatement] = []
        for attached in policies:
            for statement in attached.policy.statements:
                if _statement_applies(statement, request.action, resource, context):
                    hit = MatchedStatement(
                        attached.name, attached.attached, statement.index, statement.effect, resource
                    )
                    (deny_here if statement.effect == "Deny" else allow_here).append(hit)
        if deny_here:
            denied.extend(deny_here)
            first_denied = first_denied or resource
        elif allow_here:
            allowed.extend(allow_here)
        else:
            first_unallowed = first_unallowed or resource
    if denied:
        return Decision("ExplicitDeny", tuple(denied), first_denied)
    if first_unallowed is not None:
        return Decision("ImplicitDeny", (), first_unallowed)
    return Decision("Allow", tuple(allowed))


def _principal_matches(kind: str, pattern: str, principal_arn: str) -> bool:
    if kind != "RAM":
        return glob_match(pattern, principal_arn)
    root = re.fullmatch(r"acs:ram::([^:]+):root", pattern)
    if root:
        parts = principal_arn.split(":")
        return len(parts) >= 5 and parts[:3] == ["acs", "ram", ""] and glob_match(root.group(1), parts[3])
    return glob_match(pattern, principal_arn)


def _evaluate_trust(request: Request, trust: AttachedPolicy) -> Decision:
    """A role's trust policy: statements apply when action, Principal and conditions match."""
    context = _normalised_context(request, None)
    denied: list[MatchedStatement] = []
    allowed: list[MatchedStatement] = []
    for statement in trust.policy.statements:
        if not any(_principal_matches(k, p, request.principal_arn) for k, p in statement.principals):
            continue
        if _statement_applies(statement, request.action, None, context):
            hit = MatchedStatement(trust.name, trust.attached, statement.index, statement.effect, None)
            (denied if statement.effect == "Deny" else allowed).append(hit)
    if denied:
        return Decision("ExplicitDeny", tuple(denied))
    if allowed:
        return Decision("Allow", tuple(allowed))
    return Decision("ImplicitDeny")


def _combine(decisions: list[Decision]) -> Decision:
    """Every layer must allow; any explicit deny makes the result an explicit deny."""
    explicit = [d for d in decisions if d.effect == "ExplicitDeny"]
    if explicit:
        return Decision("ExplicitDeny", tuple(m for d in explicit for m in d.matched), explicit[0].resource)
    for decision in decisions:
        if decision.effect == "ImplicitDeny":
            return decision
    return Decision("Allow", tuple(m for d in decisions for m in d.matched))


def evaluate(
    request: Request,
    policies: Iterable[AttachedPolicy],
    session_policy: AttachedPolicy | None = None,
    trust_policy: AttachedPolicy | None = None,
) -> Decision:
    """The decision for ``request`` under the pooled identity ``policies`` (a user's plus its groups'), an
    optional session policy that must allow too, and for ``sts:AssumeRole`` an optional role trust policy
    that must allow the request's ``principal_arn`` too."""
    decisions = [_evaluate_set(request, policies)]
    if session_policy is not None:
        decisions.append(_evaluate_set(request, [session_policy]))
    if trust_policy is not None:
        decisions.append(_evaluate_trust(request, trust_policy))
    return _combine(decisions)


# --------------------------------------------------------------------------------------------------------
# Principals: the account wall and the root user, shared by the enforcement point and the simulator


def account_of(arn: str) -> str:
    """The account segment of ``acs:<service>:<region>:<account>:<id>``; empty if not an ARN."""
    parts = arn.split(":", 4)
    return parts[3] if len(parts) == 5 and parts[0] == "acs" else ""


def decide(
    *,
    principal_type: Literal["root-account", "ram-user", "assumed-role"],
    account_id: str,
    request: Request,
    policies: Iterable[AttachedPolicy] = (),
    session_policy: AttachedPolicy | None = None,
    trust_policy: AttachedPolicy | None = None,
) -> Decision:
    """Accounts are walls: a resource of another account (or not an ARN) is never allowed. The root user
    may do anything in its own account (only a role's trust policy still has its say); RAM users and role
    sessions get what ``evaluate`` says."""
    for resource in request.resources:
        if account_of(resource) != account_id:
            return Decision("ImplicitDeny", (), resource)
    if principal_type == "root-account":
        return Decision("Allow") if trust_policy is None else _evaluate_trust(request, trust_policy)
    return evaluate(request, policies, session_policy, trust_policy)
