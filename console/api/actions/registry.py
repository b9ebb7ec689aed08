"""The table of RPC operations: name -> ``(principal, params) -> dict``."""

from collections.abc import Callable
from typing import Any

from console.api.params import Params
from console.iam.principal import Principal

Action = Callable[[Principal, Params], dict[str, Any]]

ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        if name in ACTIONS:
            raise RuntimeError(f"RPC action {name} is registered twice.")
        ACTIONS[name] = function
        return function

    return register
