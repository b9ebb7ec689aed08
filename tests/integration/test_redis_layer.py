"""The Redis channel layer, as the console configures it, keeps an idle receive waiting: every websocket
consumer of a production node sits in such a receive between messages. With redis-py 8 (a 5 s read
timeout by default) channels-redis' blocking receive failed after a few seconds and daphne closed every
idle websocket with 1011; pyproject.toml keeps redis-py below 8 for that."""

import asyncio
import os

import pytest
from channels_redis.core import RedisChannelLayer

from tests.live import require_service

REDIS = os.environ.get("ASSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis_check():
    import redis

    redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()


def test_an_idle_receive_waits_and_then_gets_its_message():
    require_service("Redis", _redis_check)

    async def scenario():
        layer = RedisChannelLayer(hosts=[REDIS], capacity=5000, expiry=60)
        channel = await layer.new_channel()
        with pytest.raises(asyncio.TimeoutError):  # nothing arrives: still waiting after 8 s, no error
            await asyncio.wait_for(layer.receive(channel), timeout=8)
        await layer.send(channel, {"type": "still.here"})
        assert await asyncio.wait_for(layer.receive(channel), timeout=5) == {"type": "still.here"}

    asyncio.run(scenario())
