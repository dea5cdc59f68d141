"""A loopback TCP proxy that a test can cut and restore: a database "going away" for real.

    proxy = TcpProxy("127.0.0.1", 5432).start()      # listens on 127.0.0.1, a free port
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
    proxy.cut()        # every connection reset, new ones refused (nothing listens)
    proxy.restore()    # listening again on the same port
    proxy.stop()

Bytes are relayed both ways by one thread per direction; `connections` counts those
accepted so far.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["TcpProxy", "relay"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Reset every relayed connection and stop listening (connections are refused)."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        if listener is not None:
            _close(listener)
        for a, b in pairs:
            for s in (a, b):
                try:  # RST rather than FIN: the client sees the connection broken
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                except OSError:
                    pass
                _close(s)

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.append((client, upstream))
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=relay, args=(src, dst), daemon=True).start()


def relay(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes from `src` to `dst` until either end closes; then shut both down (the
    owner closes them). Also the forward proxies' tunnels (tests/proxyserver.py)."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
