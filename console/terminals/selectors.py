"""Reads of terminal sessions. A principal sees the sessions it opened, and on the instances where
``ecs:DescribeTerminalSessions`` is allowed, everybody's; never another account's."""

from django.db.models import Q, QuerySet

from console.fleet.selectors import instance_ids_allowed
from console.iam.principal import Principal
from console.terminals.models import TerminalSession
from console.terminals.services import DESCRIBE


def sessions_visible(principal: Principal) -> QuerySet[TerminalSession]:
    sessions = TerminalSession.objects.filter(account_id=principal.account_id).select_related("instance")
    allowed = instance_ids_allowed(principal, DESCRIBE)
    if allowed is None:
        return sessions
    return sessions.filter(Q(user_id=principal.user_id) | Q(instance_id__in=allowed))
