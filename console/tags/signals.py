"""Deleting a command or an activation deletes its tags (instances are never deleted, only deregistered,
and keep their tags so past results still show them)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from console.commands.models import Command
from console.fleet.models import Activation
from console.tags.services import tags_forget


@receiver(post_delete, sender=Command)
def _command_deleted(sender, instance: Command, **kwargs) -> None:
    tags_forget("command", [instance.pk])


@receiver(post_delete, sender=Activation)
def _activation_deleted(sender, instance: Activation, **kwargs) -> None:
    tags_forget("activation", [instance.pk])
