"""The ``update.offer`` frame the gateway sends an agent: on hello, on ``update.check``, when its target
changes."""

import base64

from assist_agent import protocol
from django.urls import reverse

from console.releases.selectors import offer_for


def offer_frame(
    instance_id: str, agent_version: str, at_connect: bool = False
) -> protocol.UpdateOffer | None:
    release = offer_for(instance_id=instance_id, agent_version=agent_version, at_connect=at_connect)
    if release is None:
        return None
    return protocol.UpdateOffer(
        version=release.version,
        sha256=release.sha256,
        signature=base64.b64decode(release.signature),
        size=release.size,
        url=reverse("agent-release-download", kwargs={"version": release.version}),
    )
