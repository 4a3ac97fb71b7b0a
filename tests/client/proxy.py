"""A TCP proxy that can turn into a black hole: a link that died without closing."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class BlackHoleProxy:
    """Forwards 127.0.0.1:``port`` to a server until :meth:`cut`, then drops every byte.

    After the cut neither side sees a FIN or a reset, as when a server's host vanishes
    or a middlebox forgets the connection: only keepalive can tell.
    """

    def __init__(self, upstream_port: int) -> None:
        """Listen on a free port and forward each connection to ``upstream_port``."""
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def target(self) -> str:
        """The address clients dial."""
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Drop everything from now on, both ways, on every connection."""
        self._cut.set()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self._upstream)
            except OSError:  # the server is gone: so is this connection
                downstream.close()
                continue
            with self._lock:
                self._sockets += [downstream, upstream]
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self._cut.is_set():
                    sink.sendall(data)

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> BlackHoleProxy:
        """The proxy itself."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close it."""
        self.close()
