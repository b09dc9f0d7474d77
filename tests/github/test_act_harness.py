"""The act harness itself: the artifact server's port stays reserved for the whole act run.

act dies at start-up (``level=fatal msg="listen tcp 127.0.0.1:N: bind: address already in use"``)
when its artifact server's port is taken; with the port picked by bind-and-close, another bind(0)
on the machine could take it before act listened (about one run in fifty under ``pytest -n 2``).
"""

from __future__ import annotations

import socket

from tests.github.act_harness import reserved_port


def test_a_reserved_port_is_refused_to_others_but_open_to_a_reuseaddr_listener_like_acts() -> None:
    with reserved_port() as port:
        other = socket.socket()
        try:
            other.bind(("127.0.0.1", port))
            raise AssertionError(f"port {port} was handed to another socket while reserved")
        except OSError as exc:
            assert exc.errno == 98  # EADDRINUSE
        finally:
            other.close()
        # Nobody else's bind(0) gets it either (a sample: the kernel picks among ~14k ports).
        for _ in range(2000):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                assert s.getsockname()[1] != port
        # act's server (Go listens with SO_REUSEADDR) can still take it.
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
    with socket.socket() as after:
        after.bind(("127.0.0.1", port))  # released when the run is over
