import asyncio
import codecs
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from console.errors import NotFound
from console.iam.principal import Principal
from console.invocations import events
from console.invocations.selectors import invocation_get, results_visible
from console.web.stream import updates_for

SAFETY_POLL_SECONDS = 3.0


class InvocationStreamConsumer(AsyncWebsocketConsumer):
    """Live output of one invocation for a browser. Doorbells from the channel layer trigger a read of
    everything after the browser's cursors; a slow poll covers doorbells the layer dropped."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.invocation_id = self.scope["url_route"]["kwargs"]["invocation_id"]
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        principal = Principal.for_user(user, via="console")
        try:
            await database_sync_to_async(invocation_get)(principal, self.invocation_id)
        except NotFound:
            await self.close(code=4404)
            return
        self.visible = await database_sync_to_async(self._visible_results)(principal)
        self.cursors: dict[str, int] = {}
        self.decoders: dict[str, codecs.IncrementalDecoder] = {}
        self.resumed = False
        self.caught_up = False
        self.lock = asyncio.Lock()
        self.group = events.invocation_group(self.invocation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.poller = asyncio.create_task(self._poll())

    def _visible_results(self, principal: Principal) -> set[str] | None:
        if principal.is_root:
            return None
        rows = (
            results_visible(principal).filter(invocation_id=self.invocation_id).values_list("id", flat=True)
        )
        return set(rows)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "poller"):
            self.poller.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
            cursors = message.get("cursors", {}) if message.get("type") == "resume" else None
            if not isinstance(cursors, dict):
                raise ValueError
            self.cursors = {str(k): int(v) for k, v in cursors.items()}
        except (ValueError, TypeError, AttributeError):
            await self.send(
                text_data=json.dumps({"type": "error", "message": "expected {type: resume, cursors}"})
            )
            return
        self.resumed = True
        await self._push(None)

    async def invocation_changed(self, event: dict) -> None:
        if self.resumed:
            await self._push(set(event["result_ids"]))

    async def _poll(self) -> None:
        # Ends once every visible result is final and the browser holds all of its output: from then on
        # nothing changes without a doorbell (a late agent report after Aborted still rings one).
        while not self.caught_up:
            await asyncio.sleep(SAFETY_POLL_SECONDS)
            if self.resumed:
                await self._push(None)

    async def _push(self, result_ids: set[str] | None) -> None:
        async with self.lock:
            updates = await database_sync_to_async(updates_for)(
                self.invocation_id, self.cursors, result_ids, self.visible
            )
            overall = updates[-1]
            sent_output = any(update["type"] == "output" for update in updates)
            if result_ids is None:
                self.caught_up = overall["done"] == overall["total"] and not sent_output
            for update in updates:
                if update["type"] == "output":
                    decoder = self.decoders.setdefault(
                        update["result_id"], codecs.getincrementaldecoder("utf-8")(errors="replace")
                    )
                    update["text"] = decoder.decode(update.pop("data"))
                await self.send(text_data=json.dumps(update))
