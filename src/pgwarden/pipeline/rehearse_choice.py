"""What a rehearsal restores, and where: pure decisions, each a :class:`SafetyRefusal` (exit 4) when it cannot go on.

- :func:`choose_rehearsal_backup`: the verified backup of the target database (its name and server,
  matched as ``drill`` and ``deploy`` match them), the newest or the one asked for, no older than
  ``rehearsal.max_age``. A backup of another database proves nothing about this one's migrations.
- :func:`refuse_short_space`: the copy must fit on its server (the database plus its largest table,
  which a rewrite needs again), when the server's free space can be known.
- :func:`scratch_name` and :func:`refuse_scratch_is_target`: the scratch database's name, and the
  promise that it is never the target itself (a rehearsal drops its scratch database at the end).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence

from pgwarden.durations import format_duration
from pgwarden.errors import SafetyRefusal
from pgwarden.manifest import BackupManifest, DatabaseIdentity, Match, by_database, latest_verified, match_backup
from pgwarden.units import format_bytes

#: Every scratch database of a rehearsal starts with this (what to look for when one is left behind).
SCRATCH_PREFIX = "pgwarden_rehearse_"
#: PostgreSQL's identifier length (NAMEDATALEN - 1).
MAX_IDENTIFIER = 63
#: ``--backup-id latest``: the newest verified backup, as without the option.
LATEST = "latest"


def choose_rehearsal_backup(
    manifests: Sequence[BackupManifest],
    identity: DatabaseIdentity,
    *,
    max_age_s: float,
    backup_id: str | None = None,
    store_uri: str = "the backup store",
    now: dt.datetime | None = None,
) -> BackupManifest:
    """The backup to rehearse on: ``backup_id`` (which must be this database's) or the newest verified
    one of ``identity``; verified and at most ``max_age_s`` old at ``now``."""
    if backup_id and backup_id != LATEST:
        chosen = next((m for m in manifests if m.id == backup_id), None)
        if chosen is None:
            raise SafetyRefusal(f"rehearse: backup {backup_id} not found in {store_uri}",
                                hint="pass --backup-id latest (or leave it out) for the newest verified backup")
        match = match_backup(chosen, identity)
        if not match.ours:
            what = ("another server's database of that name" if match is Match.OTHER_SERVER
                    else f"database {chosen.identity.label()}")
            raise SafetyRefusal(
                f"rehearse: backup {chosen.id} is of {what}, not of {identity.describe()}: its data says nothing "
                "about what the migrations will do to this database",
                hint="rehearse with a backup of the database you will deploy to (pgwarden backup takes one)")
    else:
        found = latest_verified(manifests, identity)
        if found is None:
            others = by_database(m for m in manifests if m.verified)
            detail = ("; the store holds verified backups of other databases only: "
                      + ", ".join(who.describe() for who in others)) if others else ""
            raise SafetyRefusal(
                f"rehearse: no verified backup of {identity.describe()} in {store_uri}{detail}",
                hint="run pgwarden backup first (the migrate workflow takes one before each deploy)")
        chosen = found
    if not chosen.verified:
        raise SafetyRefusal(f"rehearse: backup {chosen.id} is not verified "
                            f"({chosen.verification or 'verification did not pass'})",
                            hint="take a new backup: only a verified backup is restored")
    age = chosen.age_s(now)
    if age > max_age_s:
        raise SafetyRefusal(
            f"rehearse: backup {chosen.id} is {format_duration(age)} old, older than rehearsal.max_age "
            f"{format_duration(max_age_s)}: the rehearsal would measure data production no longer has",
            hint="take a fresh backup (pgwarden backup), or raise rehearsal.max_age in pgwarden.yml")
    return chosen


def scratch_name(backup_id: str, token: str | None = None) -> str:
    """``pgwarden_rehearse_<backup id>_<6 hex>``, lower case, at most 63 characters."""
    suffix = "_" + (token if token is not None else secrets.token_hex(3))
    middle = re.sub(r"[^a-z0-9]+", "_", backup_id.lower()).strip("_")
    return SCRATCH_PREFIX + middle[:MAX_IDENTIFIER - len(SCRATCH_PREFIX) - len(suffix)] + suffix


def refuse_scratch_is_target(scratch: str, target: DatabaseIdentity, scratch_server: DatabaseIdentity) -> None:
    """Refuse when the scratch database would be the target: the same name on the same server
    (or on a server whose identity is not known, which may be the same)."""
    if scratch != target.database:
        return
    same = (target.system_identifier is None or scratch_server.system_identifier is None
            or target.system_identifier == scratch_server.system_identifier)
    if same:
        raise SafetyRefusal(
            f"rehearse: the scratch database {scratch} would be the target database itself "
            f"({target.describe()}); a rehearsal drops its scratch database, so nothing was done",
            hint="rehearse against a database whose name does not start with " + SCRATCH_PREFIX)


def refuse_short_space(need_bytes: int, free: int | None, where: str, largest: str | None = None) -> str:
    """What the copy needs against what the server has free: a line for the progress, or a refusal when
    it does not fit. ``free`` None: not known (``where`` says why), the rehearsal goes on."""
    needs = f"the copy needs about {format_bytes(need_bytes)}" + (
        f" (the database, plus {largest} again should a migration rewrite it)" if largest else "")
    if free is None:
        return f"{needs}; the server's free space cannot be checked: {where}"
    if free < need_bytes:
        raise SafetyRefusal(
            f"rehearse: not enough free space on the server for the copy: {needs}, {format_bytes(free)} free in "
            f"{where}; nothing was restored",
            hint="free space there, or rehearse on a staging server (rehearsal.database_url_env)")
    return f"{needs}; {format_bytes(free)} free in {where}"
