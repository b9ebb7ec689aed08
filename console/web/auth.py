from django.http import HttpRequest

from console.iam.principal import Principal


def principal_of(request: HttpRequest) -> Principal:
    return Principal.for_user(
        request.user, source_ip=request.META.get("REMOTE_ADDR", ""), secure=request.is_secure(), via="console"
    )
