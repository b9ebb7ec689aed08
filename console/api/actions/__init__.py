"""RPC operations, one module per area. Importing this package registers all of them."""

from console.api.actions import commands, describe_invocations, fleet, invocations
from console.api.actions.registry import ACTIONS, Action

__all__ = ["ACTIONS", "Action", "commands", "describe_invocations", "fleet", "invocations", "lookup"]


def lookup(name: str) -> Action | None:
    return ACTIONS.get(name)
