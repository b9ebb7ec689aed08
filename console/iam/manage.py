"""Console pages that manage RAM users, access keys, groups and custom policies.

Adapters only: each view passes the gate (the ``/iam/`` page's list actions; without them every page and
POST answers 404), parses the form, calls one service (which checks the RAM action itself: refused, the
page answers 403 with the reason), and renders or redirects. Destructive actions answer GET with a
confirmation page and act only on its POST. Each write names itself for the audit trail (``CreateUser``
on the user's ARN, ...).
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from console.errors import NotFound, ServiceError
from console.iam import authz, policy_examples, services, sts
from console.iam import policy as policy_lang
from console.iam import selectors as iam_selectors
from console.iam.effective import effective_statements
from console.iam.models import AccessKey, Group, Policy, Role, User
from console.iam.principal import Principal, ram_arn
from console.iam.views import gate


def _note(request: HttpRequest, event_name: str, *resources: str) -> None:
    audit = getattr(request, "audit", None)
    if audit is not None:
        audit.name(event_name, *resources)


def _failed(request: HttpRequest, error: ServiceError) -> str:
    audit = getattr(request, "audit", None)
    if audit is not None:
        audit.fail(error.code, error.message)
    return error.message


def _user(principal: Principal, name: str) -> User:
    try:
        return iam_selectors.user_by_name(principal, name)
    except NotFound as missing:
        raise Http404(missing.message) from missing


def _group(principal: Principal, name: str) -> Group:
    try:
        return iam_selectors.group_by_name(principal, name)
    except NotFound as missing:
        raise Http404(missing.message) from missing


def _policy(principal: Principal, ref: str) -> Policy:
    policy_type, _, name = ref.partition(":")
    if policy_type not in (Policy.SYSTEM, Policy.CUSTOM) or not name:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {ref}.")
    return iam_selectors.policy_by_name(principal, name, policy_type)


def _may(principal: Principal, **checks: tuple[str, str, str]) -> dict[str, bool]:
    """``{flag: (action, kind, name)}`` -> which buttons to show (the services check again)."""
    return {
        flag: authz.can(principal, action, [ram_arn(principal.account_id, kind, name)])
        for flag, (action, kind, name) in checks.items()
    }


def _error_status(error: ServiceError) -> int:
    return error.status if error.status >= 400 else 400


# ------------------------------------------------------------------------------------------- users


@login_required
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    principal = gate(request)
    form = {"name": request.POST.get("name", "").strip()}
    error = None
    if request.method == "POST":
        password = request.POST.get("password", "")
        _note(request, "CreateUser", ram_arn(principal.account_id, "user", form["name"]))
        try:
            if password != request.POST.get("password_again", ""):
                raise ServiceError("InvalidParameter.Password", "The two passwords are not the same.")
            user = services.ram_user_create(principal=principal, name=form["name"], password=password or None)
        except ServiceError as exc:
            error = exc
        else:
            messages.success(request, f"User {user.name} created. It logs in as {user.login_name}.")
            return redirect("iam-user", name=user.name)
    context = {
        "form": form,
        "error": error and _failed(request, error),
        "password_rules": _password_rules(),
        "nav": "iam",
    }
    return render(request, "iam/user_form.html", context, status=_error_status(error) if error else 200)


def _password_rules() -> list[str]:
    from django.contrib.auth.password_validation import password_validators_help_texts

    return password_validators_help_texts()


def _user_page(
    request: HttpRequest, principal: Principal, user: User, *, status: int = 200, **extra: Any
) -> HttpResponse:
    attached = list(user.policy_attachments.select_related("policy").order_by("policy__name"))
    attached_ids = {a.policy_id for a in attached}
    memberships = list(user.group_memberships.select_related("group").order_by("group__name"))
    member_of = {m.group_id for m in memberships}
    context = {
        "subject": user,
        "keys": list(AccessKey.objects.filter(user=user).order_by("created_at")),
        "max_keys": services.MAX_ACCESS_KEYS_PER_USER,
        "attached": attached,
        "memberships": memberships,
        "attachable": [
            p
            for p in iam_selectors.policies_visible(principal).order_by("policy_type", "name")
            if p.pk not in attached_ids
        ],
        "joinable": [
            g for g in iam_selectors.groups_visible(principal).order_by("name") if g.pk not in member_of
        ],
        "may": _may(
            principal,
            create_key=("ram:CreateAccessKey", "user", user.name),
            delete_key=("ram:DeleteAccessKey", "user", user.name),
            attach=("ram:AttachPolicyToUser", "user", user.name),
            detach=("ram:DetachPolicyFromUser", "user", user.name),
        )
        | ({"create_key": False, "delete_key": False} if user.is_root and not principal.is_root else {}),
        **_effective(Principal.for_user(user)),
        "nav": "iam",
        **extra,
    }
    return render(request, "iam/user.html", context, status=status)


def _effective(subject: Principal) -> dict[str, Any]:
    """The subject's effective statements for its page (or why they cannot be read)."""
    try:
        return {"effective": effective_statements(subject), "effective_error": ""}
    except policy_lang.PolicyDocumentError:
        return {"effective": [], "effective_error": "A policy no longer parses: every request is refused."}


@login_required
@require_http_methods(["GET"])
def user_detail(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    return _user_page(request, principal, _user(principal, name))


@login_required
@require_POST
def user_key_create(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    user = _user(principal, name)
    _note(request, "CreateAccessKey", ram_arn(principal.account_id, "user", user.name))
    try:
        issued = services.ram_access_key_create(principal=principal, user=user)
    except ServiceError as exc:
        return _user_page(request, principal, user, status=_error_status(exc), error=_failed(request, exc))
    # Rendered, not redirected: the secret is shown this once and is never stored in clear.
    return _user_page(request, principal, user, issued=issued)


@login_required
@require_http_methods(["GET", "POST"])
def user_key_delete(request: HttpRequest, name: str, key_id: str) -> HttpResponse:
    principal = gate(request)
    user = _user(principal, name)
    back = reverse("iam-user", kwargs={"name": user.name})
    if request.method == "GET":
        if not AccessKey.objects.filter(user=user, pk=key_id).exists():
            raise Http404("No such access key.")
        return _confirm(
            request,
            title="Delete access key",
            message=f"Delete access key {key_id} of {user.name}? Programs signing with it stop working.",
            button="Delete access key",
            back=back,
        )
    _note(request, "DeleteAccessKey", ram_arn(principal.account_id, "user", user.name), key_id)
    try:
        services.ram_access_key_delete(principal=principal, user=user, access_key_id=key_id)
    except ServiceError as exc:
        return _user_page(request, principal, user, status=_error_status(exc), error=_failed(request, exc))
    messages.success(request, f"Access key {key_id} deleted.")
    return redirect(back)


# ------------------------------------------------------------------------------------------ groups


@login_required
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest) -> HttpResponse:
    principal = gate(request)
    form = {
        "name": request.POST.get("name", "").strip(),
        "comments": request.POST.get("comments", "").strip(),
    }
    error = None
    if request.method == "POST":
        _note(request, "CreateGroup", ram_arn(principal.account_id, "group", form["name"]))
        try:
            group = services.group_create(principal=principal, name=form["name"], comments=form["comments"])
        except ServiceError as exc:
            error = exc
        else:
            messages.success(request, f"Group {group.name} created.")
            return redirect("iam-group", name=group.name)
    context = {"form": form, "error": error and _failed(request, error), "nav": "iam"}
    return render(request, "iam/group_form.html", context, status=_error_status(error) if error else 200)


def _group_page(
    request: HttpRequest, principal: Principal, group: Group, *, status: int = 200, **extra: Any
) -> HttpResponse:
    attached = list(group.policy_attachments.select_related("policy").order_by("policy__name"))
    attached_ids = {a.policy_id for a in attached}
    members = list(group.memberships.select_related("user").order_by("user__name"))
    member_ids = {m.user_id for m in members}
    context = {
        "group": group,
        "members": members,
        "attached": attached,
        "addable": [
            u for u in iam_selectors.users_visible(principal).order_by("name") if u.pk not in member_ids
        ],
        "attachable": [
            p
            for p in iam_selectors.policies_visible(principal).order_by("policy_type", "name")
            if p.pk not in attached_ids
        ],
        "may": _may(
            principal,
            add=("ram:AddUserToGroup", "group", group.name),
            remove=("ram:RemoveUserFromGroup", "group", group.name),
            attach=("ram:AttachPolicyToGroup", "group", group.name),
            detach=("ram:DetachPolicyFromGroup", "group", group.name),
        ),
        "nav": "iam",
        **extra,
    }
    return render(request, "iam/group.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def group_detail(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    return _group_page(request, principal, _group(principal, name))


@login_required
@require_POST
def group_member_add(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    group = _group(principal, name)
    _note(request, "AddUserToGroup", ram_arn(principal.account_id, "group", group.name))
    try:
        user = iam_selectors.user_by_name(principal, request.POST.get("user", "").strip())
        services.group_add_user(principal=principal, group=group, user=user)
    except ServiceError as exc:
        return _group_page(request, principal, group, status=_error_status(exc), error=_failed(request, exc))
    messages.success(request, f"{user.name} added to {group.name}.")
    return redirect("iam-group", name=group.name)


@login_required
@require_http_methods(["GET", "POST"])
def group_member_remove(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    group = _group(principal, name)
    user = _user(principal, request.POST.get("user", "") or request.GET.get("user", ""))
    back = reverse("iam-group", kwargs={"name": group.name})
    if request.method == "GET":
        return _confirm(
            request,
            title="Remove from group",
            message=f"Remove {user.name} from {group.name}? It loses the group's policies at once.",
            button="Remove from group",
            back=back,
            fields={"user": user.name},
        )
    _note(request, "RemoveUserFromGroup", ram_arn(principal.account_id, "group", group.name))
    try:
        services.group_remove_user(principal=principal, group=group, user=user)
    except ServiceError as exc:
        return _group_page(request, principal, group, status=_error_status(exc), error=_failed(request, exc))
    messages.success(request, f"{user.name} removed from {group.name}.")
    return redirect(back)


# ---------------------------------------------------------------------- attaching and detaching


def _target(principal: Principal, kind: str, name: str) -> User | Group | Role:
    if kind == "role":
        return _role(principal, name)
    return _user(principal, name) if kind == "user" else _group(principal, name)


def _target_page(
    request: HttpRequest, principal: Principal, target: User | Group | Role, **extra: Any
) -> HttpResponse:
    if isinstance(target, User):
        return _user_page(request, principal, target, **extra)
    if isinstance(target, Role):
        return _role_page(request, principal, target, **extra)
    return _group_page(request, principal, target, **extra)


KIND_EVENT = {"user": "User", "group": "Group", "role": "Role"}


def _target_kwargs(target: User | Group | Role, prefix: str = "to") -> dict[str, User | Group | Role]:
    kind = "user" if isinstance(target, User) else "role" if isinstance(target, Role) else "group"
    return {f"{prefix}_{kind}": target}


def _target_arn(principal: Principal, kind: str, target: User | Group | Role) -> str:
    if kind == "role":
        return sts.role_arn_of(principal.account_id, target.name)
    return ram_arn(principal.account_id, kind, target.name)


@login_required
@require_POST
def policy_attach(request: HttpRequest, kind: str, name: str) -> HttpResponse:
    principal = gate(request)
    target = _target(principal, kind, name)
    _note(request, f"AttachPolicyTo{KIND_EVENT[kind]}", _target_arn(principal, kind, target))
    try:
        policy = _policy(principal, request.POST.get("policy", ""))
        services.policy_attach(principal=principal, policy=policy, **_target_kwargs(target))  # type: ignore[arg-type]
    except ServiceError as exc:
        return _target_page(
            request, principal, target, status=_error_status(exc), error=_failed(request, exc)
        )
    messages.success(request, f"{policy.name} attached to {target.name}.")
    return redirect(f"iam-{kind}", name=target.name)


@login_required
@require_http_methods(["GET", "POST"])
def policy_detach(request: HttpRequest, kind: str, name: str) -> HttpResponse:
    principal = gate(request)
    target = _target(principal, kind, name)
    back = reverse(f"iam-{kind}", kwargs={"name": target.name})
    ref = request.POST.get("policy", "") or request.GET.get("policy", "")
    if request.method == "GET":
        try:
            policy = _policy(principal, ref)
        except NotFound as missing:
            raise Http404(missing.message) from missing
        return _confirm(
            request,
            title="Detach policy",
            message=f"Detach {policy.name} from {target.name}? The permissions it gives end at once.",
            button="Detach policy",
            back=back,
            fields={"policy": ref},
        )
    _note(request, f"DetachPolicyFrom{KIND_EVENT[kind]}", _target_arn(principal, kind, target))
    try:
        policy = _policy(principal, ref)
        services.policy_detach(principal=principal, policy=policy, **_target_kwargs(target, "from"))  # type: ignore[arg-type]
    except ServiceError as exc:
        return _target_page(
            request, principal, target, status=_error_status(exc), error=_failed(request, exc)
        )
    messages.success(request, f"{policy.name} detached from {target.name}.")
    return redirect(back)


# ---------------------------------------------------------------------------------------- policies


@login_required
@require_http_methods(["GET", "POST"])
def policy_create(request: HttpRequest) -> HttpResponse:
    """The policy editor: a new custom policy, or with ``policy=<name>`` (query or form) a new default
    version of that custom policy."""
    principal = gate(request)
    editing = (request.POST.get("policy") or request.GET.get("policy") or "").strip()
    if editing:
        return _policy_edit(request, principal, editing)
    # ?example=<key> starts the editor from one of the reference's samples; a POST keeps what was typed.
    examples = policy_examples.examples(settings.ASSIST_REGION)
    chosen = policy_examples.example(settings.ASSIST_REGION, request.GET.get("example", ""))
    form = {
        "name": request.POST.get("name", "").strip(),
        "description": request.POST.get("description", "").strip(),
        "document": request.POST.get("document", chosen.text),
    }
    error = None
    problems: list[policy_lang.ValidationError] = []
    if request.method == "POST":
        _note(request, "CreatePolicy", ram_arn(principal.account_id, "policy", form["name"]))
        try:
            created = services.policy_create(
                principal=principal,
                name=form["name"],
                document=form["document"],
                description=form["description"],
            )
        except ServiceError as exc:
            error = exc
            if exc.code == "MalformedPolicyDocument":
                problems = policy_lang.validate(form["document"])
        else:
            messages.success(request, f"Policy {created.name} created. Attach it to users or groups.")
            return redirect("iam")
    context = {
        "form": form,
        "error": error and _failed(request, error),
        "problems": problems,
        "examples": examples,
        "chosen": None if request.method == "POST" else chosen,
        "max_chars": policy_lang.MAX_DOCUMENT_CHARS,
        "nav": "iam",
    }
    return render(request, "iam/policy_form.html", context, status=_error_status(error) if error else 200)


def _policy_edit(request: HttpRequest, principal: Principal, name: str) -> HttpResponse:
    """Saving makes the document a new version and the default at once; the oldest version that is not
    the default makes room when five are kept (RAM's DeleteOldestNonDefaultVersionWhenLimitExceeded)."""
    try:
        policy = iam_selectors.policy_by_name(principal, name, Policy.CUSTOM)
    except NotFound as missing:
        raise Http404(missing.message) from missing
    document = request.POST.get("document", policy.document)
    error = None
    problems: list[policy_lang.ValidationError] = []
    if request.method == "POST":
        _note(request, "CreatePolicyVersion", ram_arn(principal.account_id, "policy", policy.name))
        try:
            version = services.policy_version_create(
                principal=principal,
                policy=policy,
                document=document,
                set_as_default=True,
                rotate_strategy=services.ROTATE_DELETE_OLDEST,
            )
        except ServiceError as exc:
            error = exc
            if exc.code == "MalformedPolicyDocument":
                problems = policy_lang.validate(document)
        else:
            messages.success(request, f"Policy {policy.name}: {version.version_id} saved; it applies now.")
            return redirect(f"{reverse('iam-policy-create')}?{urlencode({'policy': policy.name})}")
    policy.refresh_from_db()
    attachments = policy.attachments.filter(account_id=principal.account_id).select_related(
        "user", "group", "role"
    )
    context = {
        "policy": policy,
        "versions": iam_selectors.policy_versions_of(policy),
        "attached_to": [
            (kind, target.name)
            for row in attachments
            for kind, target in (("user", row.user), ("group", row.group), ("role", row.role))
            if target is not None
        ],
        "document": document,
        "error": error and _failed(request, error),
        "problems": problems,
        "max_chars": policy_lang.MAX_DOCUMENT_CHARS,
        "may": _may(principal, edit=("ram:CreatePolicyVersion", "policy", policy.name)),
        "nav": "iam",
    }
    return render(request, "iam/policy_edit.html", context, status=_error_status(error) if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def policy_delete(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    try:
        policy = iam_selectors.policy_by_name(principal, name, Policy.CUSTOM)
    except NotFound as missing:
        raise Http404(missing.message) from missing
    if request.method == "GET":
        return _confirm(
            request,
            title="Delete policy",
            message=f"Delete the custom policy {policy.name}? This cannot be undone.",
            button="Delete policy",
            back=reverse("iam"),
        )
    _note(request, "DeletePolicy", ram_arn(principal.account_id, "policy", policy.name))
    try:
        services.policy_delete(principal=principal, policy=policy)
    except ServiceError as exc:
        return _confirm(
            request,
            title="Delete policy",
            message=f"Delete the custom policy {policy.name}? This cannot be undone.",
            button="Delete policy",
            back=reverse("iam"),
            error=_failed(request, exc),
            status=_error_status(exc),
        )
    messages.success(request, f"Policy {policy.name} deleted.")
    return redirect("iam")


def _confirm(
    request: HttpRequest,
    *,
    title: str,
    message: str,
    button: str,
    back: str,
    fields: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "title": title,
        "message": message,
        "button": button,
        "back": back,
        "fields": fields or {},
        "error": error,
        "nav": "iam",
    }
    return render(request, "iam/confirm.html", context, status=status)


# ------------------------------------------------------------------------------------------- roles

TRUST_EXAMPLE = """{{
  "Version": "1",
  "Statement": [
    {{
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Principal": {{"RAM": ["acs:ram::{account}:root"]}}
    }}
  ]
}}"""


def _role(principal: Principal, name: str) -> Role:
    try:
        return sts.role_by_name(principal, name)
    except NotFound as missing:
        raise Http404(missing.message) from missing


def _role_page(
    request: HttpRequest, principal: Principal, role: Role, *, status: int = 200, **extra: Any
) -> HttpResponse:
    attached = list(role.policy_attachments.select_related("policy").order_by("policy__name"))
    attached_ids = {a.policy_id for a in attached}
    arn_name = role.name.lower()
    context = {
        "role": role,
        "role_arn": sts.role_arn_of(role.account_id, role.name),
        "attached": attached,
        "attachable": [
            p
            for p in iam_selectors.policies_visible(principal).order_by("policy_type", "name")
            if p.pk not in attached_ids
        ],
        "may": _may(
            principal,
            attach=("ram:AttachPolicyToRole", "role", arn_name),
            detach=("ram:DetachPolicyFromRole", "role", arn_name),
            delete=("ram:DeleteRole", "role", arn_name),
        ),
        **_effective(sts.role_principal(role, session_name="console")),
        "nav": "iam",
        **extra,
    }
    return render(request, "iam/role.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    principal = gate(request)
    form = {
        "name": request.POST.get("name", "").strip(),
        "description": request.POST.get("description", "").strip(),
        "trust_policy": request.POST.get("trust_policy", TRUST_EXAMPLE.format(account=principal.account_id)),
        "max_session_duration": request.POST.get("max_session_duration", str(sts.DEFAULT_DURATION)),
    }
    error = None
    if request.method == "POST":
        _note(request, "CreateRole", sts.role_arn_of(principal.account_id, form["name"]))
        try:
            duration = int(form["max_session_duration"])
        except ValueError:
            error = ServiceError(
                "InvalidParameter.MaxSessionDuration", "The maximum session is a number of seconds."
            )
        else:
            try:
                role = sts.role_create(
                    principal=principal,
                    name=form["name"],
                    trust_policy=form["trust_policy"],
                    description=form["description"],
                    max_session_duration=duration,
                )
            except ServiceError as exc:
                error = exc
            else:
                messages.success(request, f"Role {role.name} created. Attach policies to say what it may do.")
                return redirect("iam-role", name=role.name)
    context = {"form": form, "error": error and _failed(request, error), "nav": "iam"}
    return render(request, "iam/role_form.html", context, status=_error_status(error) if error else 200)


@login_required
@require_http_methods(["GET"])
def role_detail(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    return _role_page(request, principal, _role(principal, name))


@login_required
@require_http_methods(["GET", "POST"])
def role_delete(request: HttpRequest, name: str) -> HttpResponse:
    principal = gate(request)
    role = _role(principal, name)
    confirm = {
        "title": "Delete role",
        "message": f"Delete the role {role.name}? Its temporary credentials stop working at once.",
        "button": "Delete role",
        "back": reverse("iam-role", kwargs={"name": role.name}),
    }
    if request.method == "GET":
        return _confirm(request, **confirm)
    _note(request, "DeleteRole", sts.role_arn_of(principal.account_id, role.name))
    try:
        sts.role_delete(principal=principal, role=role)
    except ServiceError as exc:
        return _confirm(request, **confirm, error=_failed(request, exc), status=_error_status(exc))
    messages.success(request, f"Role {role.name} deleted.")
    return redirect("iam")
