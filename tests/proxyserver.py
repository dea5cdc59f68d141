"""A real forward proxy on the loopback interface, for tests.

    proxy = ProxyServer().start()                    # 127.0.0.1, random port
    proxy = ProxyServer(auth=("user", "secret")).start()   # 407 without Proxy-Authorization
    proxy.url                                        # "http://127.0.0.1:PORT"
    proxy.seen                                       # ["GET http://host:port/path", "CONNECT host:port"]
    proxy.stop()

Plain-http requests come in absolute form and are forwarded with http.client (one
request per client connection: it answers "Connection: close"); CONNECT opens a tunnel
and relays bytes both ways (https through the proxy). Every request is logged before the
credentials check, so a test can tell "refused" from "never asked".
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tcpproxy import relay

__all__ = ["ProxyServer", "Socks5Server"]

_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _allowed(self) -> bool:
        owner = self.server.owner
        owner.seen.append(f"{self.command} {self.path}")
        owner.headers.append({k.lower(): v for k, v in self.headers.items()})
        if owner.auth is None:
            return True
        want = "Basic " + base64.b64encode(":".join(owner.auth).encode()).decode()
        if self.headers.get("Proxy-Authorization") == want:
            return True
        self.send_response(407, "Proxy Authentication Required")
        self.send_header("Proxy-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        return False

    def do_GET(self) -> None:
        if not self._allowed():
            return
        target = urlsplit(self.path)
        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except OSError as exc:
            self.send_error(502, f"upstream: {exc}")
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP | {"transfer-encoding", "content-length"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self) -> None:
        if not self._allowed():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError as exc:
            self.send_error(502, f"upstream: {exc}")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection
        back = threading.Thread(target=relay, args=(upstream, client), daemon=True)
        back.start()
        relay(client, upstream)
        back.join(5)
        upstream.close()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ProxyServer


class ProxyServer:
    def __init__(self, host: str = "127.0.0.1", auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.seen: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.host, self.port = self._server.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProxyServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Socks5Server:
    """A SOCKS5 proxy on 127.0.0.1 (no authentication, CONNECT only) that relays bytes;
    `seen` lists the "host:port" targets it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"socks5://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _exactly(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _serve(self, conn: socket.socket) -> None:
        try:
            _ver, nmethods = self._exactly(conn, 2)
            self._exactly(conn, nmethods)
            conn.sendall(b"\x05\x00")  # no authentication
            _ver, _cmd, _rsv, atyp = self._exactly(conn, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self._exactly(conn, 4))
            elif atyp == 3:
                host = self._exactly(conn, self._exactly(conn, 1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, self._exactly(conn, 16))
            port = int.from_bytes(self._exactly(conn, 2), "big")
            self.seen.append(f"{host}:{port}")
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            conn.close()
            return
        conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")

        threading.Thread(target=relay, args=(upstream, conn), daemon=True).start()
        relay(conn, upstream)

    def stop(self) -> None:
        self.sock.close()
