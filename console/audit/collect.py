"""What one request learns about itself for its audit record, carried explicitly (on the request by the
middleware, on the ``Principal`` into services) rather than through a thread-local.

``authorize()`` hands each refusal to the principal's ``RequestAudit``: the door that owns the request
(the RPC endpoint, the console middleware) then writes one event with the outcome and the refusals, after
the service's transaction has rolled back. A principal without one (a websocket consumer, a task, a test)
gets its refusal written at once by ``services.access_denied_record``.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Denial:
    action: str
    resource: str


@dataclass
class RequestAudit:
    denials: list[Denial] = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    resources: list[str] = field(default_factory=list)
    event_name: str = ""
    recorded: bool = False  # the door wrote the event itself (the RPC endpoint); the middleware skips it

    def deny(self, action: str, resource: str) -> None:
        self.denials.append(Denial(action, resource))

    def fail(self, code: str, message: str) -> None:
        """A view caught a service error and answered with a page: keep the code for the record."""
        self.error_code, self.error_message = code, message

    def name(self, event_name: str, *resources: str) -> None:
        """A view names what it did (``CreateUser``) and on what, instead of its URL name."""
        self.event_name = event_name
        self.resources.extend(r for r in resources if r not in self.resources)
