"""The table of RPC operations: name -> ``(principal, params) -> dict``."""

from collections.abc import Callable
from typing import Any

from console.api.params import Params
from console.iam.principal import Principal

Action = Callable[[Principal, Params], dict[str, Any]]

ECS_VERSION = "2014-05-26"
STS_VERSION = "2015-04-01"

ACTIONS: dict[str, Action] = {}
# The API version (product) each action belongs to: one endpoint serves ECS's Cloud Assistant operations
# and STS's, and a request must name its operation's version.
VERSIONS: dict[str, str] = {}


def action(name: str, *, version: str = ECS_VERSION) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        if name in ACTIONS:
            raise RuntimeError(f"RPC action {name} is registered twice.")
        ACTIONS[name] = function
        VERSIONS[name] = version
        return function

    return register
