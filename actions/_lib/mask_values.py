"""Print, one per line, the secrets in a database connection string that the runner must mask.

Run by setup.sh with the runner's python3 before pgwarden is installed, so standard library only.
The string comes in ``PGWARDEN_URL`` (never argv). The whole string is masked by setup.sh itself;
this prints the password alone, as written and as libpq reads it (percent-decoded in a URL,
unquoted and unescaped in a keyword/value string), because tools print it that way too.

Both forms are read the way libpq reads them (``conninfo_uri_parse`` / ``conninfo_parse`` in
libpq's fe-connect.c): in a URL the password may be in the user info or in a ``password`` query
parameter; in a keyword/value string a value is either quoted (``'a b \\' c'``, with backslash
escapes) or runs to the next white space (backslash escapes allowed there too).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit


def _uri_passwords(url: str) -> list[str]:
    found: list[str] = []
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    # libpq takes any keyword as a query parameter; "+" stays "+" (no form decoding)
    found += [pair.split("=", 1)[1] for pair in parts.query.split("&") if pair.startswith("password=")]
    return found


def _keyword_passwords(dsn: str) -> list[str]:
    """Values of every ``password`` keyword: the raw text and the value libpq sees."""
    found: list[str] = []
    pos, size = 0, len(dsn)
    while pos < size:
        while pos < size and dsn[pos].isspace():
            pos += 1
        start = pos
        while pos < size and dsn[pos] != "=" and not dsn[pos].isspace():
            pos += 1
        key = dsn[start:pos]
        while pos < size and dsn[pos].isspace():
            pos += 1
        if not key or pos >= size or dsn[pos] != "=":
            return found  # not a keyword/value string libpq would accept: nothing more to read
        pos += 1
        while pos < size and dsn[pos].isspace():
            pos += 1
        raw_start = pos
        value: list[str] = []
        quoted = pos < size and dsn[pos] == "'"
        if quoted:
            pos += 1
        while pos < size:
            char = dsn[pos]
            if char == "\\" and pos + 1 < size:
                value.append(dsn[pos + 1])
                pos += 2
                continue
            if (quoted and char == "'") or (not quoted and char.isspace()):
                break
            value.append(char)
            pos += 1
        raw = dsn[raw_start:pos + (1 if quoted else 0)]
        pos += 1 if quoted else 0
        if key == "password":
            found += [raw, raw[1:-1] if quoted else raw, "".join(value)]
    return found


def secrets(conninfo: str) -> list[str]:
    """Distinct non-empty password forms in ``conninfo``, in the order found."""
    if conninfo.startswith(("postgresql://", "postgres://")):
        candidates = _uri_passwords(conninfo)
        candidates += [unquote(c) for c in candidates]
    else:
        candidates = _keyword_passwords(conninfo)
    out: list[str] = []
    for candidate in candidates:
        for line in candidate.splitlines() or [candidate]:
            if line.strip() and line not in out:
                out.append(line)
    return out


if __name__ == "__main__":
    for secret in secrets(os.environ.get("PGWARDEN_URL", "")):
        print(secret)
