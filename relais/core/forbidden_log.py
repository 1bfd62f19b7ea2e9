"""A refused request (403) is one log line, not a traceback.

Django logs every PermissionDenied on `django.request` as a warning with the exception's
traceback ("Forbidden (Permission denied): /path" and ~30 lines of stack): refusals are
routine (a wrong role, another territory) and the stack drowns the real errors. This filter,
on the log handlers, keeps the line and drops the stack of 403 records and of
PermissionDenied records on `django.security.*`; everything else is untouched (a 500 keeps
its traceback)."""

import logging

from django.core.exceptions import PermissionDenied


class ForbiddenWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if getattr(record, "status_code", None) == 403 or (
            record.name.startswith("django.security") and isinstance(exc, PermissionDenied)
        ):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
