"""The instance page's heartbeat history (``{% heartbeat_history instance %}``), a block of its own so
the page's view (console/terminals/views.py) needs no change; reads in console/web/instance_page.py."""

from django import template

from console.fleet.models import Instance
from console.web.instance_page import heartbeat_history as history_of

register = template.Library()


@register.inclusion_tag("web/instance_heartbeats.html")
def heartbeat_history(instance: Instance) -> dict:
    return {"instance": instance, "history": history_of(instance)}
