"""redact() on a big document: every password still goes, whichever pattern finds it.

A plan's JSON report runs to megabytes; redact() skips the URL pattern when the text holds no
``://`` at all (it is tried at every letter), so both sides of that shortcut are checked here.
"""

from __future__ import annotations

import json

from pgwarden.redact import MASK, redact, register_secret

FINDING = {"rule": "require-concurrent-index", "severity": "high", "message": "Builds an index on orders " * 8,
           "statement": "CREATE INDEX orders_idx ON orders (created_at);", "file": "migrations/0001.sql"}


def big_document(extra: str) -> str:
    findings = [dict(FINDING, line=n) for n in range(3000)]
    findings.insert(1500, dict(FINDING, message=extra))
    return json.dumps({"findings": findings}, indent=2)


def test_a_url_password_in_a_big_document_is_redacted() -> None:
    text = big_document("connect with postgresql://app:S3cret-Url-Pw@db.internal:5432/app failed")
    out = redact(text)
    assert "S3cret-Url-Pw" not in out
    assert f"postgresql://app:{MASK}@db.internal" in out
    assert len(out) == len(text) - len("S3cret-Url-Pw") + len(MASK)


def test_without_any_url_a_key_value_password_is_still_redacted() -> None:
    text = big_document("CREATE ROLE app LOGIN password=Kv-Secret-9 ;")
    assert "://" not in text
    out = redact(text)
    assert "Kv-Secret-9" not in out and f"password={MASK}" in out
    assert redact("plain text, nothing secret") == "plain text, nothing secret"


def test_the_case_insensitive_shortcut_misses_no_spelling_of_password() -> None:
    # redact() skips the key=value pattern when the casefolded text holds no "password"; the
    # pattern is case-insensitive, which also matches the long s (U+017F) for "s".
    for spelling in ("password", "PASSWORD", "PassWord", "pa\u017f\u017fword", "PA\u017fSWORD"):
        assert redact(f"dblink 'host=db {spelling}=Kv-Secret-9'") == f"dblink 'host=db {spelling}={MASK}"


def test_redact_json_finds_a_secret_the_json_text_escapes() -> None:
    from pgwarden.redact import redact_json

    secret = 'pa"ss\\word9'
    register_secret(secret)
    text = redact_json({"error": f"login failed for {secret}"}, json.dumps)
    assert json.loads(text) == {"error": f"login failed for {MASK}"}
    assert redact_json({"clean": "nothing here"}, json.dumps) == '{"clean": "nothing here"}'
