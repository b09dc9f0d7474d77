"""Test configuration: fixtures live in fix_*.py plugins, loaded here."""

pytest_plugins = ["tests.fix_pg", "tests.fix_cli", "tests.fix_github", "tests.fix_s3", "tests.fix_project"]
