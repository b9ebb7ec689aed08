"""A principal's effective permissions, for the console: every statement of every policy that applies
(a user's own and its groups', or a role's), in evaluation terms, with where it comes from."""

import json
from dataclasses import dataclass

from console.iam import authz
from console.iam.principal import Principal


@dataclass(frozen=True)
class EffectiveStatement:
    policy: str
    attached: str  # "user", "group:<name>", "role"
    index: int
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: str  # the Condition block as JSON, "" when none


def effective_statements(subject: Principal) -> list[EffectiveStatement]:
    """Deny statements first (they win), then allows, each with its policy and attachment. A root user
    has no statements: it may do everything in its account. Raises PolicyDocumentError when a stored
    document no longer parses (every request of the subject is then refused)."""
    if subject.is_root:
        return []
    rows = []
    for attached in authz.policies_of(subject):
        for statement in attached.policy.statements:
            condition = statement.source.get("Condition") if isinstance(statement.source, dict) else None
            rows.append(
                EffectiveStatement(
                    policy=attached.name,
                    attached=attached.attached,
                    index=statement.index,
                    effect=statement.effect,
                    actions=statement.actions,
                    not_action=statement.not_action,
                    resources=statement.resources,
                    not_resource=statement.not_resource,
                    condition=json.dumps(condition, sort_keys=True) if condition else "",
                )
            )
    return sorted(rows, key=lambda row: (row.effect != "Deny", row.policy, row.index))
