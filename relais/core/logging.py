"""Logs without health data: no query string reaches a log line.

Searches by name, phone or motif go by POST, but an old client, a bookmark or a
deprecated route (GET /api/v1/motifs/suggest?q=…) can still put a patient's name or
symptoms in a URL. Every URL written to a log is therefore cut at its "?":

- ``GunicornLogger``: gunicorn's access log (``deploy/gunicorn.conf.py`` sets it as
  ``logger_class``), on every route: request line, referrer, and the request headers and
  environ variables a custom ``access_log_format`` could print;
- ``StripQueryStringFilter``: Django's own loggers (``django.request``, ``django.server``
  of runserver and the test live server, ``django.security``), installed by settings.LOGGING.
"""

import logging
import re

# A URL (absolute or a path) followed by a query string, in free text such as
# '"GET /demandes/patients/?last_name=X HTTP/1.1" 200'. The query ends at a blank or a quote.
_QUERY = re.compile(r"(?P<url>(?:https?://[^\s\"'?]*)?/[^\s\"'?]*)\?[^\s\"']*")


def strip_query(url: str) -> str:
    """The URL without its query string (and fragment)."""
    if not url:
        return url
    return url.split("?", 1)[0].split("#", 1)[0]


def strip_queries_in(text: str) -> str:
    """Every URL of a free text without its query string."""
    if "?" not in text:
        return text
    return _QUERY.sub(r"\g<url>", text)


def request_line(environ: dict) -> str:
    """The access-log request line ("GET /path HTTP/1.1") without the query string."""
    path = strip_query(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
    method = environ.get("REQUEST_METHOD", "-")
    protocol = environ.get("SERVER_PROTOCOL", "-")
    return f"{method} {path} {protocol}"


class StripQueryStringFilter(logging.Filter):
    """Rewrites a record so that its message holds no query string (always keeps it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave it to the handler's own error path
            return True
        cleaned = strip_queries_in(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


try:  # gunicorn is a production dependency; keep this module importable without it
    from gunicorn.glogging import Logger as _GunicornBase
except ImportError:  # pragma: no cover
    _GunicornBase = None


if _GunicornBase is not None:

    class GunicornLogger(_GunicornBase):
        """gunicorn's logger, whose access log never shows a query string."""

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            atoms["r"] = request_line(environ)
            atoms["q"] = ""
            atoms["f"] = strip_query(atoms.get("f") or "-")
            for key in list(atoms):
                if key in ("{raw_uri}e", "{query_string}e"):
                    atoms[key] = strip_query(atoms[key]) if key == "{raw_uri}e" else ""
                elif key in ("{referer}i", "{http_referer}e"):
                    atoms[key] = strip_query(atoms[key])
            return atoms
