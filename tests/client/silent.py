"""A server that accepts TCP connections and never says a word: no HTTP/2, no TLS."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_server() -> Iterator[str]:
    """Listen on 127.0.0.1:0, accept every connection and hold it open; yield the target.

    A gRPC client connects, sends its preface and waits for the server's SETTINGS frame,
    which never comes: grpc gives up on such a connection only after about 20 s.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        # Ends when the listener is shut down below: accept() then fails.
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        # shutdown, not just close: close leaves a thread blocked in accept() asleep.
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(5)
        for connection in held:
            connection.close()
