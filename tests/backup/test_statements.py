"""StatementSplitter: statements end where psql ends them, for everything pg_dump writes.

The in-place restore runs pg_restore's script on its own connection, in batches cut at statement
ends; a cut inside a string, a dollar-quoted body or a ``BEGIN ATOMIC`` routine body would send
half a statement. Checked against the real server too: every statement of a script of hard cases
runs alone, and a table records each one.
"""

from __future__ import annotations

import psycopg

from pgwarden.pg.statements import StatementSplitter

HARD = b"""\\restrict abc123
--
-- Name: f; Type: FUNCTION; Schema: public
--

SET standard_conforming_strings = on;
CREATE FUNCTION public.f(a integer) RETURNS text
    LANGUAGE plpgsql
    AS $_$
begin
  -- a ; in a comment, 'a quote', and "an identifier;"
  return 'x;' || $1 || E'\\';';
end;
$_$;
CREATE FUNCTION public.g(a integer) RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT CASE WHEN (a > 0) THEN 1 ELSE 0 END AS "case";
 SELECT (a + 1);
END;
/* a block /* nested ; */ comment */ CREATE TABLE public."t;1" (
    a$b text DEFAULT 'it''s; fine',
    c text DEFAULT E'line\\nbreak; \\' quote'
);
COMMENT ON TABLE public."t;1" IS 'two
lines; here';
\\unrestrict abc123
"""


def _split(script: bytes) -> list[bytes]:
    splitter = StatementSplitter()
    out: list[bytes] = []
    for line in script.splitlines(keepends=True):
        out.extend(splitter.feed(line))
    assert splitter.at_boundary, splitter.pending
    return out


def test_statements_end_where_psql_ends_them() -> None:
    parts = _split(HARD)
    assert parts[0] == b"\\restrict abc123\n"
    assert parts[-1] == b"\\unrestrict abc123\n"
    statements = [p.strip() for p in parts[1:-1]]
    assert len(statements) == 5, statements
    assert statements[1].endswith(b"$_$;") and b"return 'x;'" in statements[1]
    assert statements[2].startswith(b"CREATE FUNCTION public.g") and statements[2].endswith(b"END;")
    assert statements[3].endswith(b"quote'\n);")
    assert statements[4].startswith(b"COMMENT ON TABLE") and statements[4].endswith(b"here';")


def test_each_statement_runs_alone_on_the_server(db) -> None:
    statements = [p for p in _split(HARD) if not p.lstrip().startswith(b"\\")]
    with psycopg.connect(db.url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("select public.f(1), public.g(5)").fetchone() == ("x;1';", 6)
        assert conn.execute("""select column_default from information_schema.columns
                               where table_name = 't;1' order by ordinal_position""").fetchall() == [
            ("'it''s; fine'::text",), ("'line\nbreak; '' quote'::text",)]


def test_a_statement_is_not_ended_by_a_line_that_only_looks_finished() -> None:
    splitter = StatementSplitter()
    assert list(splitter.feed(b"SELECT 'open;\n")) == []
    assert list(splitter.feed(b"still open';\n")) == [b"SELECT 'open;\nstill open';"]
    assert list(splitter.feed(b"\n")) == []
    assert splitter.at_boundary
