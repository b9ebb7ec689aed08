"""The one error type services raise. Its code and HTTP status are the original API's, so the RPC API can
answer with them unchanged and the UI can show the message."""


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class NotFound(ServiceError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status=404)


class Forbidden(ServiceError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status=403)
