"""PostgreSQL edges: connections, client binaries, the embedded server."""
