"""Keep secrets out of everything pgwarden prints or writes.

Any code that learns a secret (the database password, a full URL, an API key) registers it
here; every message, log line, report and captured child output passes through :func:`redact`
before it leaves the process. Registration is process-wide on purpose: a secret learned in one
module must be hidden in all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

MASK = "********"
_secrets: set[str] = set()
# user:password@ in any URL-looking text, even for a secret we were never told about.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def register_secret(value: str | None) -> None:
    """Hide ``value`` (and its URL-encoded form) from every later message."""
    if not value or len(value) < 3:
        # Masking one or two characters would shred ordinary text and hide nothing useful.
        return
    _secrets.add(value)
    quoted = urllib.parse.quote(value, safe="")
    if quoted != value:
        _secrets.add(quoted)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:  # the URL pattern is tried at every letter: 0.15 s on a plan's 4 MB JSON report
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "password" not in text.casefold():
        # Case-insensitive regex search is slow (0.08 s on a plan's 4 MB JSON report); every letter
        # the pattern matches under re.I casefolds to the same letter (S and the long s too), so
        # text without "password" casefolded cannot match.
        return text
    return _KV_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


def redact_data(value: Any) -> Any:
    """``value`` as JSON-able data with every string in it redacted, keys included.

    Dates become ISO text, tuples and sets lists. Redacting the strings, not the finished JSON
    text, keeps a document valid: the ``password=...`` pattern would swallow a closing quote.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact_data(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def _may_need_redaction(text: str) -> bool:
    """False only when :func:`redact` would change no string of a document encoded as ``text``: no
    registered secret (raw or JSON-escaped), no URL and no ``password`` in it."""
    if "://" in text or "password" in text.casefold():
        return True
    return any(secret in text or json.dumps(secret, ensure_ascii=False)[1:-1] in text for secret in _secrets)


def redact_json(document: Any, encode: Callable[[Any], str]) -> str:
    """``document`` as JSON text by ``encode``, with every string in it redacted (:func:`redact_data`).

    Redacting the finished text instead would break the document: the ``password=...`` pattern
    swallows the closing quote of the string it is in, and a secret holding a quote or a backslash
    is escaped in the text, so it would not even be found. The document is encoded once when
    nothing in it can need redaction (the usual case: a plan's 4 MB report in a few milliseconds).
    """
    text = encode(document)
    if not _may_need_redaction(text):
        return text
    return encode(redact_data(document))
