"""The pure safety decisions: destructive commands and environment names."""

from __future__ import annotations

import pytest

from pgwarden.guards import find_forbidden, forbidden_in, is_protected, resolve_environment


@pytest.mark.parametrize(("command", "label"), [
    ("php artisan migrate:fresh --force", "migrate:fresh"),
    ("php artisan migrate:reset", "migrate:reset"),
    ("php artisan migrate:refresh --seed", "migrate:refresh"),
    ("php artisan db:wipe --force", "db:wipe"),
    ("npx prisma migrate reset --force", "prisma migrate reset"),
    ("./node_modules/.bin/prisma migrate dev --name x", "prisma migrate dev"),
    ("npx prisma db push", "prisma db push"),
    ("npx prisma migrate deploy --accept-data-loss", "--accept-data-loss"),
    ("alembic -c prod.ini downgrade base", "alembic downgrade base"),
    ("php artisan down && php artisan migrate:fresh", "migrate:fresh"),
    ("cd app; 'php' artisan 'migrate:reset'", "migrate:reset"),
])
def test_destructive_commands_are_found(command: str, label: str) -> None:
    assert label in [rule.label for rule in forbidden_in(command)]


@pytest.mark.parametrize("command", [
    "npx prisma migrate deploy",
    "php artisan migrate --force",
    "alembic upgrade head",
    "alembic -c base.ini upgrade head",
    "php artisan down --message='db maintenance'",
    "echo 'never run migrate:fresh here' > /dev/null && php artisan migrate --force",
])
def test_safe_commands_pass(command: str) -> None:
    # A quoted mention inside echo is one word, not the artisan command.
    assert forbidden_in(command) == []


def test_find_forbidden_names_where_and_why() -> None:
    uses = find_forbidden({"migrations.command": "npx prisma db push --accept-data-loss",
                           "deploy.hooks.pre": None, "deploy.hooks.post": "php artisan up"})
    messages = [u.message() for u in uses]
    assert messages[0].startswith("migrations.command runs `prisma db push` (pushes the schema without")
    assert any("--accept-data-loss" in m for m in messages)


def test_protected_environments_and_resolution() -> None:
    assert is_protected("Production", ["production", "prod"])
    assert not is_protected("staging", ["production", "prod"])
    assert not is_protected(None, ["production"])
    assert resolve_environment("prod", "staging", {}) == "prod"
    assert resolve_environment(None, "staging", {"PGWARDEN_ENVIRONMENT": "x"}) == "staging"
    assert resolve_environment(None, None, {"PGWARDEN_ENVIRONMENT": "production"}) == "production"
    assert resolve_environment(None, None, {}) is None
