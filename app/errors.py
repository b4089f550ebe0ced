"""Errors with their HTTP status; ``main`` turns them into ``{"detail": ...}`` responses."""


class ServiceError(Exception):
    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """The resource is in the wrong state for the request."""

    status_code = 409


class Invalid(ServiceError):
    status_code = 422


class TooLarge(ServiceError):
    status_code = 413


class Unavailable(ServiceError):
    """A component the request needs (broker, database) is down."""

    status_code = 503


class RangeNotSatisfiable(ServiceError):
    status_code = 416

    def __init__(self, size: int):
        super().__init__(f"the requested range starts beyond the end of the file ({size} bytes)")
        self.headers = {"Content-Range": f"bytes */{size}"}  # RFC 9110 15.5.17: the current length
