"""The instance picker's rows: each instance with its tags, read for the whole list in one query."""

from dataclasses import dataclass

from django import template

from console.fleet.models import Instance
from console.tags.selectors import tags_of
from console.web.instance_page import TAG_RESOURCE_TYPE

register = template.Library()


@dataclass(frozen=True)
class PickerRow:
    instance: Instance
    tags: dict[str, str]

    @property
    def tag_text(self) -> str:
        """``key=value`` lines, for the picker's tag selection (static/assist/picker.js)."""
        return "\n".join(f"{key}={value}" for key, value in self.tags.items())

    @property
    def search_text(self) -> str:
        i = self.instance
        return " ".join([i.name, i.id, i.hostname, *i.ips, *self.tag_text.split("\n")]).lower()


@register.simple_tag
def picker_rows(instances) -> list[PickerRow]:
    instances = list(instances)
    if not instances:
        return []
    tags = tags_of(instances[0].account_id, TAG_RESOURCE_TYPE, [i.id for i in instances])
    return [PickerRow(instance, tags.get(instance.id, {})) for instance in instances]
