"""Test configuration: fixtures live in fix_*.py plugins, loaded here."""

import signal

pytest_plugins = ["tests.fix_pg", "tests.fix_cli", "tests.fix_github", "tests.fix_s3", "tests.fix_project"]

# A suite started in the background by a shell without job control (`nohup .ci/run &`) inherits
# SIGINT ignored, and so would every pgwarden it starts, as POSIX wants for background jobs: the
# tests that press Ctrl-C on a deploy or a rehearsal then saw it "go on". They need Ctrl-C delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
