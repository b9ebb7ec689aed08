"""The account's RAM page: users, groups, roles, policies, and a policy simulator for a user or role."""

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from console.errors import ServiceError
from console.iam import authz, sts
from console.iam import policy as policy_lang
from console.iam import selectors as iam_selectors
from console.iam.models import Role
from console.iam.principal import Principal, ram_arn
from console.web.auth import principal_of

# Seeing the RAM pages needs the RAM read actions; the root user has them, a RAM user needs a policy.
PAGE_ACTIONS = (("ram:ListUsers", "user"), ("ram:ListGroups", "group"), ("ram:ListPolicies", "policy"))


def gate(request: HttpRequest) -> Principal:
    """The principal of a request to any RAM page, or 404 (missing and forbidden look the same) unless it
    holds every list action. A refusal goes to the audit trail like any other."""
    principal = principal_of(request)
    try:
        for action, kind in PAGE_ACTIONS:
            authz.authorize(principal, action, [ram_arn(principal.account_id, kind, "*")])
    except authz.AccessDenied as denied:
        raise Http404("No such page.") from denied
    return principal


def _overview(principal: Principal) -> dict[str, Any]:
    users = (
        iam_selectors.users_visible(principal)
        .order_by("name")
        .prefetch_related("group_memberships__group", "policy_attachments__policy")
    )
    groups = (
        iam_selectors.groups_visible(principal)
        .order_by("name")
        .prefetch_related("memberships__user", "policy_attachments__policy")
    )
    policies = (
        iam_selectors.policies_visible(principal)
        .annotate(in_use=Count("attachments", filter=Q(attachments__account_id=principal.account_id)))
        .order_by("policy_type", "name")
    )
    roles = []
    if authz.can(principal, "ram:ListRoles", [ram_arn(principal.account_id, "role", "*")]):
        roles = list(
            Role.objects.filter(account_id=principal.account_id)
            .order_by("name")
            .prefetch_related("policy_attachments__policy")
        )
    return {"users": users, "groups": groups, "policies": policies, "roles": roles}


def _json_object(text: str, field: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ServiceError(f"InvalidParameter.{field}", f"{field} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ServiceError(f"InvalidParameter.{field}", f"{field} must be a JSON object.")
    return value


def _subject(principal: Principal, post: Any) -> Principal:
    """The simulated principal: a user, or (``role:<name>``) a session of a role with the session policy
    given (if any)."""
    chosen = post.get("user", "").strip()
    if chosen.startswith("role:"):
        if not authz.can(principal, "ram:ListRoles", [ram_arn(principal.account_id, "role", "*")]):
            raise ServiceError("EntityNotExist.Role", "The role does not exist.")
        role = sts.role_by_name(principal, chosen.removeprefix("role:"))
        session_policy = post.get("session_policy", "").strip()
        if session_policy:
            problems = policy_lang.validate(session_policy)
            if problems:
                raise ServiceError(
                    "InvalidParameter.PolicyGrammar", "The session policy is not valid: " + str(problems[0])
                )
        return sts.role_principal(role, session_name="simulation", session_policy=session_policy)
    return Principal.for_user(iam_selectors.user_by_name(principal, chosen))


def _simulate(principal: Principal, post: Any) -> dict[str, Any]:
    subject = _subject(principal, post)
    action = post.get("action", "").strip()
    if not action:
        raise ServiceError("MissingParameter.Action", "Name the action, e.g. ecs:RunCommand.")
    resources = [line.strip() for line in post.get("resources", "").splitlines() if line.strip()]
    if not resources:
        raise ServiceError("MissingParameter.Resource", "Give at least one resource ARN, one per line.")
    context = _json_object(post.get("context", ""), "Context")
    tags = _json_object(post.get("resource_tags", ""), "ResourceTags")
    if not all(isinstance(v, dict) for v in tags.values()):
        raise ServiceError("InvalidParameter.ResourceTags", "ResourceTags maps each ARN to {key: value}.")
    decision = authz.decision_for_user(subject, action, resources, context, tags)
    return {"decision": decision, "decision_json": json.dumps(decision.as_json(), indent=2)}


@login_required
@require_http_methods(["GET", "POST"])
def iam_home(request: HttpRequest) -> HttpResponse:
    principal = gate(request)
    simulation: dict[str, Any] = {"form": request.POST if request.method == "POST" else {}}
    status = 200
    if request.method == "POST":
        if principal.audit is not None:
            principal.audit.name("SimulatePrincipalPolicy")  # a read: the audit trail names it so
        try:
            simulation.update(_simulate(principal, request.POST))
        except ServiceError as error:
            simulation["error"] = error.message
            status = 400
    if request.htmx:
        return render(request, "iam/_simulation.html", simulation, status=status)
    may = {
        flag: authz.can(principal, action, [ram_arn(principal.account_id, kind, "*")])
        for flag, action, kind in (
            ("create_user", "ram:CreateUser", "user"),
            ("create_group", "ram:CreateGroup", "group"),
            ("create_policy", "ram:CreatePolicy", "policy"),
            ("delete_policy", "ram:DeletePolicy", "policy"),
            ("create_role", "ram:CreateRole", "role"),
        )
    }
    context = {**_overview(principal), **simulation, "may": may, "nav": "iam"}
    return render(request, "iam/home.html", context, status=status)
