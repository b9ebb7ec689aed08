from django.contrib.auth import views as auth_views
from django.urls import path

from console.audit import views as audit_views
from console.commands import views as command_views
from console.iam import manage as iam_manage
from console.iam import views as iam_views
from console.web import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("instances/", views.instance_list, name="instances"),
    path("activations/", views.activation_list, name="activations"),
    path("run/", views.run_command, name="run"),
    path("invocations/", views.invocation_list, name="invocations"),
    path("invocations/<str:invocation_id>/", views.invocation_detail, name="invocation"),
    path(
        "invocations/<str:invocation_id>/results/<str:result_id>/output.txt",
        views.invocation_output,
        name="invocation-output",
    ),
    path("invocations/<str:invocation_id>/rerun/", views.invocation_rerun, name="invocation-rerun"),
    path(
        "invocations/<str:invocation_id>/results/<str:result_id>/panel/",
        views.invocation_result_panel,
        name="invocation-result-panel",
    ),
    path("dashboard/", views.dashboard, name="dashboard"),
    # The command editor's previews (htmx fragments of the command form; before commands/<id>/ routes).
    path(
        "commands/editor/parameters/",
        command_views.command_editor_parameters,
        name="command-editor-parameters",
    ),
    path("commands/editor/render/", command_views.command_editor_render, name="command-editor-render"),
    path("iam/", iam_views.iam_home, name="iam"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("audit/export.jsonl", audit_views.audit_export, name="audit-export"),
    path("iam/users/", iam_manage.user_create, name="iam-user-create"),
    path("iam/users/<str:name>/", iam_manage.user_detail, name="iam-user"),
    path("iam/users/<str:name>/access-keys/", iam_manage.user_key_create, name="iam-user-key-create"),
    path(
        "iam/users/<str:name>/access-keys/<str:key_id>/delete/",
        iam_manage.user_key_delete,
        name="iam-user-key-delete",
    ),
    path(
        "iam/users/<str:name>/policies/attach/",
        iam_manage.policy_attach,
        {"kind": "user"},
        name="iam-user-policy-attach",
    ),
    path(
        "iam/users/<str:name>/policies/detach/",
        iam_manage.policy_detach,
        {"kind": "user"},
        name="iam-user-policy-detach",
    ),
    path("iam/groups/", iam_manage.group_create, name="iam-group-create"),
    path("iam/groups/<str:name>/", iam_manage.group_detail, name="iam-group"),
    path("iam/groups/<str:name>/members/add/", iam_manage.group_member_add, name="iam-group-member-add"),
    path(
        "iam/groups/<str:name>/members/remove/",
        iam_manage.group_member_remove,
        name="iam-group-member-remove",
    ),
    path(
        "iam/groups/<str:name>/policies/attach/",
        iam_manage.policy_attach,
        {"kind": "group"},
        name="iam-group-policy-attach",
    ),
    path(
        "iam/groups/<str:name>/policies/detach/",
        iam_manage.policy_detach,
        {"kind": "group"},
        name="iam-group-policy-detach",
    ),
    path("iam/policies/", iam_manage.policy_create, name="iam-policy-create"),
    path("iam/policies/<str:name>/delete/", iam_manage.policy_delete, name="iam-policy-delete"),
    path("iam/roles/", iam_manage.role_create, name="iam-role-create"),
    path("iam/roles/<str:name>/", iam_manage.role_detail, name="iam-role"),
    path("iam/roles/<str:name>/delete/", iam_manage.role_delete, name="iam-role-delete"),
    path(
        "iam/roles/<str:name>/policies/attach/",
        iam_manage.policy_attach,
        {"kind": "role"},
        name="iam-role-policy-attach",
    ),
    path(
        "iam/roles/<str:name>/policies/detach/",
        iam_manage.policy_detach,
        {"kind": "role"},
        name="iam-role-policy-detach",
    ),
]
