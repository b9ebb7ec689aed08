"""For the instances list: each instance's last reported update, read for the whole page in one query."""

from django import template
from django.utils.html import format_html

from console.releases.models import InstanceUpdate
from console.releases.selectors import update_states

register = template.Library()

_FAILED = {"rolled_back", "failed"}


@register.simple_tag
def agent_updates(instances) -> dict[str, InstanceUpdate]:
    return update_states([instance.pk for instance in instances])


@register.simple_tag
def agent_update_badge(updates: dict[str, InstanceUpdate], instance_id: str) -> str:
    row = updates.get(instance_id)
    if row is None or not row.state:
        return ""
    return format_html(
        '<span class="badge {}" title="{}">{} {}</span>',
        "off" if row.state in _FAILED else "ok",
        row.detail,
        row.state_label,
        row.version,
    )
