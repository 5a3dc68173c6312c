"""Exception types raised by the SDK."""
from __future__ import annotations

from typing import Any, Optional


class AssayError(Exception):
    """Base class for every error the SDK raises."""


class APIError(AssayError):
    """The server answered with an error status."""

    def __init__(self, status: int, detail: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"HTTP {status}{where}: {format_detail(detail)}")


class NotFoundError(APIError):
    """404: the object does not exist (or belongs to another team)."""


class NotSupportedError(APIError):
    """The server does not implement this feature yet (it answered 404 for the route)."""

    def __init__(self, feature: str, status: int = 404, detail: Any = None, method: str = "", path: str = "") -> None:
        super().__init__(status, detail, method, path)
        self.feature = feature
        self.args = (
            f"the Assay server at this URL does not support {feature} yet "
            f"(HTTP {status} for {method} {path}: {format_detail(detail)})",
        )


class TeamMismatchError(AssayError, ValueError):
    """`team_id` names a different team than the one the API key belongs to."""


class ServerUnreachableError(AssayError, ConnectionError):
    """The server could not be reached (connection refused, timeout, DNS...)."""


class SpoolLockedError(AssayError):
    """Another live process owns this spool directory."""


def format_detail(detail: Any) -> str:
    if detail is None:
        return "(no detail)"
    if isinstance(detail, list):
        parts = []
        for d in detail[:5]:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc", []))
                parts.append(f"{loc}: {d.get('msg', d)}")
            else:
                parts.append(str(d))
        more = f" (+{len(detail) - 5} more)" if len(detail) > 5 else ""
        return "; ".join(parts) + more
    return str(detail)


def is_route_missing(e: "APIError") -> bool:
    """A 404 for the route itself (the server lacks the feature), not for a missing object."""
    d = e.detail
    return e.status == 404 and isinstance(d, str) and (d.strip().lower() == "not found" or d.startswith("Route "))


def error_for(status: int, detail: Any, method: str, path: str) -> APIError:
    cls = NotFoundError if status == 404 else APIError
    return cls(status, detail, method, path)


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Parse a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils
        import time

        dt = email.utils.parsedate_to_datetime(value)
        return max(0.0, dt.timestamp() - time.time())
    except Exception:
        return None
