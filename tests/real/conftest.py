"""The real migration tools' fixtures (each in its fix_*.py), for the tests of this folder."""

from tests.real.fix_laravel import laravel_app, laravel_skeleton

__all__ = ["laravel_app", "laravel_skeleton"]
