"""Migration tool adapters behind one Protocol; :func:`get_tool` is the explicit registry."""

from __future__ import annotations

from pgwarden.config import Settings
from pgwarden.tools.base import MigrationTool


def get_tool(settings: Settings) -> MigrationTool:
    name = settings.migrations.tool
    if name == "sql":
        from pgwarden.tools.sqldir import SqlDirTool

        return SqlDirTool(settings)
    if name == "prisma":
        from pgwarden.tools.prisma import PrismaTool

        return PrismaTool(settings)
    if name == "laravel":
        from pgwarden.tools.laravel import LaravelTool

        return LaravelTool(settings)
    if name == "alembic":
        from pgwarden.tools.alembic import AlembicTool

        return AlembicTool(settings)
    raise AssertionError(f"unknown tool {name!r} passed config validation")
