"""RPC operations, one module per area. Importing this package registers all of them."""

from console.api.actions import commands, describe_invocations, fleet, invocations, sts, tags
from console.api.actions import files as files  # SendFile, DescribeSendFileResults
from console.api.actions import ram as ram  # RAM (2015-05-01): users, groups, policies, keys, roles
from console.api.actions import terminals as terminals  # Start/Describe/EndTerminalSession
from console.api.actions.registry import ACTIONS, Action

__all__ = [
    "ACTIONS",
    "Action",
    "commands",
    "describe_invocations",
    "fleet",
    "invocations",
    "lookup",
    "sts",
    "tags",
]


def lookup(name: str) -> Action | None:
    return ACTIONS.get(name)
