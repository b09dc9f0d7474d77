"""Migration tool adapters behind one Protocol; :func:`get_tool` is the explicit registry."""

from __future__ import annotations

from pgwarden.config import Settings
from pgwarden.tools.base import MigrationTool


def get_tool(settings: Settings) -> MigrationTool:
    name = settings.migrations.tool
    if name == "sql":
        from pgwarden.tools.sqldir import SqlDirTool

        tool: MigrationTool = SqlDirTool(settings)
        return tool
    if name == "prisma":
        from pgwarden.tools.prisma import PrismaTool

        tool: MigrationTool = PrismaTool(settings)
        return tool
    if name == "laravel":
        from pgwarden.tools.laravel import LaravelTool

        tool: MigrationTool = LaravelTool(settings)
        return tool
    if name == "alembic":
        from pgwarden.tools.alembic import AlembicTool

        tool: MigrationTool = AlembicTool(settings)
        return tool
    raise AssertionError(f"unknown tool {name!r} passed config validation")
