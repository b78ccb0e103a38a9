"""A loopback TCP proxy for tests: its open connections can be cut, and while it is ``down``
it accepts and drops every new connection at once (a restarting or unreachable server)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    """Relays 127.0.0.1:``port`` (a free port) to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.down = False
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopped.set()
        self._server.close()
        self.cut()

    def cut(self) -> int:
        """Close every open connection (both ends); returns how many there were."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return len(sockets) // 2

    def outage(self, seconds: float) -> None:
        """Cut every connection and refuse new ones for ``seconds``."""
        self.down = True
        self.cut()
        time.sleep(seconds)
        self.down = False

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                downstream, _ = self._server.accept()
            except OSError:
                return
            if self.down:
                downstream.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
