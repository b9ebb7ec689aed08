"""Pages of the command library and of stopping an invocation (included at the site root)."""

from django.urls import path

from console.commands import library_views, views
from console.invocations import views as invocation_views

urlpatterns = [
    path("commands/", views.command_list, name="commands"),
    path("commands/new/", views.command_new, name="command_new"),
    path("commands/common/", library_views.common_command_list, name="common_commands"),
    path("commands/common/<str:command_id>/", library_views.common_command_detail, name="common_command"),
    path(
        "commands/common/<str:command_id>/run/", library_views.common_command_run, name="common_command_run"
    ),
    path(
        "commands/common/<str:command_id>/clone/",
        library_views.common_command_clone,
        name="common_command_clone",
    ),
    path("commands/<str:command_id>/", views.command_detail, name="command"),
    path("commands/<str:command_id>/edit/", views.command_edit, name="command_edit"),
    path("commands/<str:command_id>/clone/", views.command_clone, name="command_clone"),
    path("commands/<str:command_id>/delete/", views.command_delete, name="command_delete"),
    path("commands/<str:command_id>/run/", views.command_run, name="command_run"),
    path("invocations/<str:invocation_id>/stop/", invocation_views.invocation_stop, name="invocation_stop"),
]
