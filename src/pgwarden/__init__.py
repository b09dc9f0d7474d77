"""pgwarden: safe production PostgreSQL migrations.

Plan (risk review) -> backup -> approval -> deploy -> verify -> report, with a restore
path a responder can trust. The CLI lives in :mod:`pgwarden.cli`; each step's orchestration
in :mod:`pgwarden.pipeline`; pure rules and records in the core modules.
"""

__version__ = "0.1.0"
