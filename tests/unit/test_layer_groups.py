"""The group keeper (console/layer_groups.py) on channels' in-memory layer: a layer that forgets its groups
(as Redis does when restarted or flushed) gets them back within a few probe periods, without the consumers
doing anything; a membership older than the layer's group expiry is renewed; a left group stays left."""

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from console import layer_groups

PROBE = 0.05


@pytest.fixture
def layer(monkeypatch, settings):
    settings.ASSIST_GROUP_PROBE_SECONDS = PROBE
    memory = InMemoryChannelLayer()
    monkeypatch.setattr(layer_groups, "get_channel_layer", lambda: memory)
    return memory


async def reaches(layer, group: str, channel: str, within: float) -> bool:
    """Whether a message sent to the group arrives on the channel, sending again until ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        await layer.group_send(group, {"type": "doorbell"})
        try:
            message = await asyncio.wait_for(layer.receive(channel), 0.1)
        except TimeoutError:
            continue
        if message["type"] == "doorbell":
            return True
    return False


def test_groups_the_layer_forgot_are_joined_again(layer):
    async def scenario():
        keeper = layer_groups.GroupKeeper()
        agent, browser = await layer.new_channel(), await layer.new_channel()
        await keeper.join("agent.i-1", agent)
        await keeper.join("invocation.t-1", browser)
        assert await reaches(layer, "agent.i-1", agent, within=1)
        await asyncio.sleep(PROBE * 10)
        quiet_rejoins = keeper.rejoins

        await layer.flush()  # what a Redis restart does to channels_redis' groups
        forgotten = not await reaches(layer, "agent.i-1", agent, within=0.01)
        back = (
            await reaches(layer, "agent.i-1", agent, within=2),
            await reaches(layer, "invocation.t-1", browser, within=2),
        )
        return quiet_rejoins, forgotten, back, keeper.rejoins

    quiet_rejoins, forgotten, back, rejoins = asyncio.run(scenario())
    assert quiet_rejoins == 0  # probes that come back are no alarm
    assert forgotten
    assert back == (True, True)
    assert rejoins >= 1


def test_a_membership_older_than_the_group_expiry_is_renewed(layer, monkeypatch):
    layer.group_expiry = 1
    monkeypatch.setattr(layer_groups, "RENEW_SECONDS", 0.3)

    async def scenario():
        keeper = layer_groups.GroupKeeper()
        agent = await layer.new_channel()
        await keeper.join("agent.i-1", agent)
        await asyncio.sleep(1.6)  # past the expiry: only renewal keeps it
        return await reaches(layer, "agent.i-1", agent, within=0.5)

    assert asyncio.run(scenario())


def test_a_left_group_stays_left_and_the_last_leave_stops_the_watcher(layer):
    async def scenario():
        keeper = layer_groups.GroupKeeper()
        agent, other = await layer.new_channel(), await layer.new_channel()
        await keeper.join("agent.i-1", agent)
        await keeper.join("agent.i-2", other)
        watcher = keeper.watcher
        await keeper.leave("agent.i-1", agent)
        await layer.flush()
        await asyncio.sleep(PROBE * 6)  # the keeper rejoins what it still holds, and only that
        left_reached = await reaches(layer, "agent.i-1", agent, within=0.3)
        kept_reached = await reaches(layer, "agent.i-2", other, within=1)
        await keeper.leave("agent.i-2", other)
        await asyncio.sleep(0)
        return left_reached, kept_reached, watcher.cancelled() or watcher.done(), keeper.watcher

    left_reached, kept_reached, stopped, watcher_after = asyncio.run(scenario())
    assert not left_reached
    assert kept_reached
    assert stopped
    assert watcher_after is None
