"""STS (API version 2015-04-01) on the same endpoint: AssumeRole and GetCallerIdentity, shaped as the
official ``alibabacloud-sts20150401`` SDK reads them."""

from typing import Any

from console.api.actions.invocations import iso_time
from console.api.actions.registry import STS_VERSION, action
from console.api.params import Params
from console.iam import sts
from console.iam.principal import Principal, ram_arn


@action("AssumeRole", version=STS_VERSION)
def assume_role(principal: Principal, params: Params) -> dict[str, Any]:
    duration = params.integer("DurationSeconds", default=0) if params.text("DurationSeconds") else None
    issued = sts.role_assume(
        principal=principal,
        role_arn=params.text("RoleArn", required=True),
        session_name=params.text("RoleSessionName", required=True),
        duration_seconds=duration,
        session_policy=params.text("Policy"),
        external_id=params.text("ExternalId"),
        source_identity=params.text("SourceIdentity"),
    )
    session = issued.session
    return {
        "AssumedRoleUser": {
            "Arn": ram_arn(
                session.role.account_id, "assumed-role", f"{session.role.name}/{session.session_name}"
            ),
            "AssumedRoleId": f"{session.role_id}:{session.session_name}",
        },
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": issued.access_key_secret,
            "Expiration": iso_time(session.expires_at),
            "SecurityToken": issued.security_token,
        },
        "SourceIdentity": session.source_identity,
    }


@action("GetCallerIdentity", version=STS_VERSION)
def get_caller_identity(principal: Principal, params: Params) -> dict[str, Any]:
    return sts.caller_identity(principal)
