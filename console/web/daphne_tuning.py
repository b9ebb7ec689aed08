"""Two changes to daphne for nodes that hold thousands of agent websockets.

**The sweep.** Daphne 4 reaps finished application instances and closed connections in
``application_checker``, which every second walks *all* connections: with 3,000 idle agent websockets
on a node that walk was about 2 % of a core, a fifth of the node's idle CPU. Here the server remembers
which connections need a look (an application instance finished, the peer disconnected) and the sweep
looks only at those, with daphne's own rules: a disconnected connection whose application does not
end within ``application_close_timeout`` has it cancelled; a finished application's exception is
logged (and answered on a live connection); a connection is dropped once both are over.

**Pings to agents.** Daphne pings a websocket that sent nothing for ``ping_interval`` (20 s). An agent
sends a heartbeat every ``ASSIST_HEARTBEAT_INTERVAL``; with a longer interval every agent got a ping
(and its pong) per beat, the largest part of an idle node's CPU at 10,000 agents. Agent connections are
pinged only once they missed a beat (two intervals of silence); the agent pings the console itself after
two intervals without hearing from it (assist_agent.runner), so either side still notices a dead peer.
Browser websockets keep daphne's interval.

``install()`` patches ``daphne.server.Server`` and ``daphne.ws_protocol.WebSocketProtocol``; it is
called when daphne runs the console (the ``serve`` command, or the ``daphne`` command line, seen by
``WebConfig.ready``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger("daphne.server")

_INSTALLED = "_assist_tuning_installed"
AGENT_PATH = "/ws/agent/"


def install() -> None:
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(Server, _INSTALLED, False):
        return
    WebSocketProtocol.check_timeouts = _checking_agents_apart(WebSocketProtocol.check_timeouts)
    original_create_application = Server.create_application
    original_protocol_disconnected = Server.protocol_disconnected

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = original_create_application(self, protocol, scope)
        details = self.connections.get(protocol)
        instance = details.get("application_instance") if details else None
        if instance is not None:
            instance.add_done_callback(lambda _future: _needs_a_look(self).add(protocol))
        return queue

    def protocol_disconnected(self: Any, protocol: Any) -> None:
        original_protocol_disconnected(self, protocol)
        _needs_a_look(self).add(protocol)

    Server.create_application = create_application
    Server.protocol_disconnected = protocol_disconnected
    Server.application_checker = application_checker
    setattr(Server, _INSTALLED, True)


def _checking_agents_apart(daphne_check_timeouts: Any) -> Any:
    def check_timeouts(self: Any) -> None:
        if self.state != self.STATE_OPEN or not is_agent(self):
            daphne_check_timeouts(self)
            return
        server = self.server
        if server.websocket_timeout >= 0 and self.duration() > server.websocket_timeout:
            self.serverClose()
        elif time.time() - self.last_ping > agent_ping_interval(server.ping_interval):
            self._sendAutoPing()
            self.last_ping = time.time()

    return check_timeouts


def is_agent(protocol: Any) -> bool:
    request = getattr(protocol, "request", None)
    return str(getattr(request, "path", "")).startswith(AGENT_PATH)


def agent_ping_interval(daphne_interval: float) -> float:
    return max(daphne_interval, 2 * float(settings.ASSIST_HEARTBEAT_INTERVAL))


def _needs_a_look(server: Any) -> set[Any]:
    pending: set[Any] | None = server.__dict__.get("_assist_needs_a_look")
    if pending is None:
        pending = server.__dict__["_assist_needs_a_look"] = set()
    return pending


def application_checker(self: Any) -> None:
    from twisted.internet import reactor

    try:
        sweep(self)
    finally:
        reactor.callLater(1, self.application_checker)


def sweep(server: Any) -> None:
    """One pass over the connections that changed since the last one (daphne's rules for each)."""
    pending = _needs_a_look(server)
    changed = list(pending)
    pending.clear()
    now = time.time()
    for protocol in changed:
        details = server.connections.get(protocol)
        if details is None:
            continue
        disconnected = details.get("disconnected")
        instance = details.get("application_instance")
        if instance is not None and not instance.done() and disconnected:
            if now - disconnected > server.application_close_timeout:
                logger.warning(
                    "Application instance %r for connection %s took too long to shut down and was killed.",
                    instance,
                    repr(protocol),
                )
                instance.cancel()  # its done callback brings it back to be reaped
            else:
                pending.add(protocol)  # look again until it ends or its time is up
            continue
        if instance is not None and instance.done():
            _report_exception(server, protocol, instance, disconnected)
            del details["application_instance"]
            instance = None
        if instance is None and disconnected:
            del server.connections[protocol]


def _report_exception(server: Any, protocol: Any, instance: asyncio.Future[Any], disconnected: Any) -> None:
    try:
        exception = instance.exception()
    except asyncio.CancelledError:
        return
    if exception is None:
        return
    if isinstance(exception, KeyboardInterrupt):
        server.stop()  # the application asks the server to exit (daphne's rule)
        return
    logger.error("Exception inside application: %s", exception, exc_info=exception)
    if not disconnected:
        protocol.handle_exception(exception)
