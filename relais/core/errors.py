"""One domain error type, mapped to HTTP in one place (views, API, FHIR)."""


class ApplicationError(Exception):
    """A refusal the user must understand: `message` is French and shown as is."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}

    def api_extra(self) -> dict:
        """The fields of the API's error body beside code and message (relais.core.api);
        an error carrying more (orientation's alternatives) says how to show it."""
        return dict(self.extra)


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class PermissionDenied(ApplicationError):
    code = "forbidden"
    http_status = 403


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409
