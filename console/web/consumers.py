import asyncio
import codecs
import json
import logging
from collections import deque

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from console.audit.websocket_door import websocket_refusal_record
from console.compact_json import json_bytes
from console.errors import ServiceError
from console.iam.principal import Principal
from console.invocations import events
from console.invocations.selectors import invocation_get, results_visible
from console.layer_groups import groups_for_this_loop
from console.web.auth import websocket_principal
from console.web.stream import MAX_BYTES_PER_UPDATE, updates_for

SAFETY_POLL_SECONDS = 3.0
STREAM_EVENT = "StreamInvocationOutput"  # the audit event of a refused connection

logger = logging.getLogger(__name__)

# A browser that does not read its websocket must not grow the server's send buffer without bound.
# daphne gives the application no backpressure (a send returns at once and the bytes wait in the server),
# so the consumer counts what it sent that the browser has not acknowledged ({"type": "ack", "received":
# <messages received on this connection>}); a page that never acknowledges counts everything it was sent.
# Past the limit the stream closes with CLOSE_TOO_FAR_BEHIND; the page reconnects and resumes from the
# cursors of what it did receive, so it misses nothing and sees nothing twice.
UNREAD_BYTES_LIMIT = 8 << 20
CLOSE_TOO_FAR_BEHIND = 4008
HANDLED_WITHOUT_DATABASE = frozenset({"invocation.changed", "websocket.receive"})


def unread_bytes_limit() -> int:
    return int(getattr(settings, "ASSIST_BROWSER_UNREAD_BYTES", UNREAD_BYTES_LIMIT))


class InvocationStreamConsumer(AsyncWebsocketConsumer):
    """Live output of one invocation for a browser. Doorbells from the channel layer trigger a read of
    everything after the browser's cursors; a slow poll covers doorbells the layer dropped."""

    async def connect(self) -> None:
        self.invocation_id = self.scope["url_route"]["kwargs"]["invocation_id"]
        try:
            principal = await self._principal()
            await database_sync_to_async(invocation_get)(principal, self.invocation_id)
        except ServiceError as error:
            # Missing and another account's invocation close alike (4404); the refusal is recorded.
            code = 4401 if error.status == 401 else 4404
            await database_sync_to_async(websocket_refusal_record)(
                self.scope,
                event_name=STREAM_EVENT,
                close_code=code,
                error_code=error.code,
                error_message=error.message,
                user=self.scope.get("user"),
            )
            await self.close(code=code)
            return
        self.visible = await database_sync_to_async(self._visible_results)(principal)
        self.cursors: dict[str, int] = {}
        self.decoders: dict[str, codecs.IncrementalDecoder] = {}
        self.resumed = False
        self.caught_up = False
        self.unread: deque[int] = deque()  # sizes of the messages sent and not acknowledged, in order
        self.unread_bytes = 0
        self.acked = 0  # messages of this connection the browser acknowledged
        self.closing = False
        self.acks_seen = False  # the page acknowledges what it reads: pause for it instead of closing
        self.paused = False
        # Doorbells and acknowledgements only say what to read again (the results they name, or all);
        # one pusher task reads it, so the doorbells that ring during a read are answered by one update
        # instead of one update each, queued behind it.
        self.wanted_ids: set[str] = set()
        self.wanted_all = False
        self.wanted = asyncio.Event()
        self.group = events.invocation_group(self.invocation_id)
        await groups_for_this_loop().join(self.group, self.channel_name)
        await self.accept()
        self.pusher = asyncio.create_task(self._answer_wants())
        self.poller = asyncio.create_task(self._poll())

    async def dispatch(self, message: dict) -> None:
        if message["type"] in HANDLED_WITHOUT_DATABASE:
            # Channels first closes old database connections on the database thread before each handler;
            # doorbells and the page's acks touch no database, and must not wait there behind an update
            # that is reading (the doorbells queued one by one and were not coalesced).
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def _principal(self) -> Principal:
        return await websocket_principal(self.scope, source_ip=(self.scope.get("client") or [""])[0] or "")

    def _visible_results(self, principal: Principal) -> set[str] | None:
        if principal.is_root:
            return None
        rows = (
            results_visible(principal).filter(invocation_id=self.invocation_id).values_list("id", flat=True)
        )
        return set(rows)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await groups_for_this_loop().leave(self.group, self.channel_name)
        for task in ("pusher", "poller"):
            if hasattr(self, task):
                getattr(self, task).cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
            if isinstance(message, dict) and message.get("type") == "ack":
                self._ack(message.get("received"))
                if self.paused and self.unread_bytes <= unread_bytes_limit() // 2:
                    self.paused = False
                    self._want(None)  # what the doorbells of the pause announced
                return
            cursors = message.get("cursors", {}) if message.get("type") == "resume" else None
            if not isinstance(cursors, dict):
                raise ValueError
            self.cursors = {str(k): int(v) for k, v in cursors.items()}
            self.acks_seen = self.acks_seen or message.get("acks") is True  # it says it will acknowledge
        except (ValueError, TypeError, AttributeError):
            await self.send(
                text_data=json.dumps(
                    {
                        "type": "error",
                        "message": "expected {type: resume, cursors} or {type: ack, received}",
                    }
                )
            )
            return
        self.resumed = True
        self._want(None)

    def _ack(self, received: object) -> None:
        """The browser has received ``received`` messages of this connection: they no longer wait."""
        if isinstance(received, bool) or not isinstance(received, int):
            raise ValueError
        if not self.acked <= received <= self.acked + len(self.unread):
            raise ValueError
        while self.acked < received:
            self.unread_bytes -= self.unread.popleft()
            self.acked += 1
        self.acks_seen = True

    async def _send_counted(self, payload: bytes) -> bool:
        """Send the JSON ``payload`` unless the browser is too far behind; then close the stream (it
        reconnects and resumes)."""
        if self.closing:
            return False
        size = len(payload)
        limit = unread_bytes_limit()
        if self.unread_bytes and self.unread_bytes + size > limit:
            self.closing = True
            logger.info(
                "invocation stream %s: %d bytes sent and not read (limit %d); closing, the page resumes",
                self.invocation_id,
                self.unread_bytes,
                limit,
            )
            await self.close(code=CLOSE_TOO_FAR_BEHIND)
            return False
        self.unread.append(size)
        self.unread_bytes += size
        await self.send(text_data=payload.decode())
        return True

    async def invocation_changed(self, event: dict) -> None:
        if self.resumed:
            self._want(event["result_ids"])

    def _want(self, result_ids: list[str] | None) -> None:
        """Ask the pusher to bring the page up to date on ``result_ids`` (None: every result)."""
        if result_ids is None:
            self.wanted_all = True
        else:
            self.wanted_ids.update(result_ids)
        self.wanted.set()

    async def _answer_wants(self) -> None:
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            result_ids = None if self.wanted_all else self.wanted_ids
            self.wanted_ids, self.wanted_all = set(), False
            try:
                await self._push(result_ids)
            except Exception:
                # Not left to die silently in its task: the page would wait for output forever.
                logger.exception("invocation stream %s: update failed; closing", self.invocation_id)
                await self.close(code=1011)
                return

    async def _poll(self) -> None:
        # Ends once every visible result is final and the browser holds all of its output: from then on
        # nothing changes without a doorbell (a late agent report after Aborted still rings one).
        while not self.caught_up and not self.closing:  # closing: the page reconnects
            await asyncio.sleep(SAFETY_POLL_SECONDS)
            if self.resumed:
                self._want(None)

    def _update_bytes(self) -> int:
        """Output per update: an eighth of the unread limit (1 MiB of the default 8 MiB), so that an update
        of hundreds of results printing at once never crosses the limit on its own; at least one
        result's share."""
        return max(MAX_BYTES_PER_UPDATE, unread_bytes_limit() // 8)

    async def _push(self, result_ids: set[str] | None) -> None:
        # Only the pusher task calls it: one update at a time, in order.
        more = True
        while more:  # an update carries a bounded amount of output: send until caught up
            if self.closing:
                return
            if self.acks_seen and self.unread_bytes > unread_bytes_limit() // 2:
                # A page that acknowledges is paused rather than closed: the output waits in the
                # database and the next acknowledgement resumes the push from the cursors.
                self.paused = True
                return
            cursors_before = dict(self.cursors)
            updates = await database_sync_to_async(updates_for)(
                self.invocation_id, self.cursors, result_ids, self.visible, self._update_bytes()
            )
            overall = updates[-1]
            sent_output = any(update["type"] == "output" for update in updates)
            more = overall.pop("more") and sent_output
            if result_ids is None:
                self.caught_up = overall["done"] == overall["total"] and not sent_output
            # The next round reads only the results this one cut short: with hundreds printing at once,
            # reading every result again each round (and sending its status again) cost rounds times
            # results queries for one push.
            result_ids = set(overall.pop("left"))
            for index, update in enumerate(updates):
                decoder = None
                if update["type"] == "output":
                    decoder = self.decoders.setdefault(
                        update["result_id"], codecs.getincrementaldecoder("utf-8")(errors="replace")
                    )
                    state = decoder.getstate()
                    update["text"] = decoder.decode(update.pop("data"))
                payload = json_bytes(update)
                if self.acks_seen and self._would_overflow(len(payload)):
                    # Output escaped for JSON can outgrow its bytes: rather than close a page that
                    # acknowledges, keep the rest of this update in the database and pause for it.
                    if decoder is not None:
                        decoder.setstate(state)
                    self._hold_back(updates[:index], updates[index:], cursors_before)
                    self.caught_up = False
                    self.paused = True
                    return
                if not await self._send_counted(payload):
                    return

    def _would_overflow(self, size: int) -> bool:
        return bool(self.unread_bytes) and self.unread_bytes + size > unread_bytes_limit()

    def _hold_back(self, sent: list[dict], unsent: list[dict], cursors_before: dict[str, int]) -> None:
        """Move each cursor back to the last output sent of its result: the next push sends the rest."""
        last_sent = {update["result_id"]: update["seq"] for update in sent if update["type"] == "output"}
        for update in unsent:
            if update["type"] == "output":
                result_id = update["result_id"]
                self.cursors[result_id] = last_sent.get(result_id, cursors_before.get(result_id, 0))
