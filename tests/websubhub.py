"""A small WebSub hub on the loopback interface, for tests (W3C WebSub §5-§8).

    hub = Hub(lease_s=60).start()
    hub.url                                   # what a feed names as rel="hub"
    hub.wait_for(lambda h: h.active(topic))   # a subscriber subscribed and was verified
    hub.publish(topic, body)                  # POSTed to every callback, signed (sha256)
    hub.publish(topic, body, secret="wrong")  # a bad signature
    hub.requests                              # every subscription request, as received

A subscription request is answered 202, then verified in a thread: GET the callback with
hub.mode, hub.topic, hub.challenge and hub.lease_seconds; the subscription is active only
when the callback echoed the challenge with a 2xx. A new request for a callback already
active is a renewal: verified the same way, its lease extended.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

__all__ = ["Hub", "Verification"]


@dataclass
class Verification:
    mode: str
    topic: str
    callback: str
    status: int
    echoed: bool


@dataclass
class _Sub:
    topic: str
    callback: str
    secret: str
    lease_until: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        form = dict(parse_qsl(self.rfile.read(size).decode()))
        status = self.server.hub._request(form)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: Hub


class Hub:
    def __init__(self, lease_s: int = 60, refuse: int | None = None) -> None:
        self.lease_s = lease_s
        self.refuse = refuse  # answer every request with this status instead
        self.requests: list[dict[str, str]] = []
        self.verifications: list[Verification] = []
        self.subs: dict[str, _Sub] = {}  # by callback
        self._cond = threading.Condition()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.hub = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/hub"

    def start(self) -> Hub:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ subscriber side

    def _request(self, form: dict[str, str]) -> int:
        with self._cond:
            self.requests.append(form)
            self._cond.notify_all()
        if self.refuse is not None:
            return self.refuse
        if form.get("hub.mode") not in ("subscribe", "unsubscribe") or not form.get("hub.callback"):
            return 400
        threading.Thread(target=self._verify, args=(form,), daemon=True).start()
        return 202

    def _verify(self, form: dict[str, str]) -> None:
        time.sleep(0.05)  # after the 202 is on its way, as a real hub does
        challenge = secrets.token_urlsafe(12)
        mode, topic, callback = form["hub.mode"], form["hub.topic"], form["hub.callback"]
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            params["hub.lease_seconds"] = str(self.lease_s)
        try:
            resp = httpx.get(callback, params=params, timeout=10)
            status, echoed = resp.status_code, resp.text == challenge
        except httpx.HTTPError:
            status, echoed = 0, False
        with self._cond:
            self.verifications.append(Verification(mode, topic, callback, status, echoed))
            if echoed and 200 <= status < 300:
                if mode == "subscribe":
                    until = time.monotonic() + self.lease_s
                    self.subs[callback] = _Sub(topic, callback, form.get("hub.secret", ""), until)
                else:
                    self.subs.pop(callback, None)
            self._cond.notify_all()

    def deny(self, callback: str, topic: str, reason: str) -> httpx.Response:
        """WebSub §5.2: tell the subscriber its subscription is refused."""
        params = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason}
        return httpx.get(callback, params=params, timeout=10)

    # ------------------------------------------------------------------ publisher side

    def active(self, topic: str) -> list[_Sub]:
        now = time.monotonic()
        return [s for s in self.subs.values() if s.topic == topic and s.lease_until > now]

    def publish(
        self,
        topic: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml",
        secret: str | None = None,
        method: str = "sha256",
        signed: bool = True,
    ) -> list[int]:
        """POST `body` to each verified subscriber of `topic` (a lapsed lease too: a test
        on a loaded machine must not depend on a seconds-long lease); their statuses."""
        out = []
        for sub in [s for s in self.subs.values() if s.topic == topic]:
            key = (sub.secret if secret is None else secret).encode()
            headers = {"Content-Type": content_type}
            if signed:
                digest = hmac.new(key, body, getattr(hashlib, method)).hexdigest()
                headers["X-Hub-Signature"] = f"{method}={digest}"
            resp = httpx.post(sub.callback, content=body, headers=headers, timeout=30)
            out.append(resp.status_code)
        return out

    def wait_for(self, check: Callable[[Hub], object], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"hub: condition not met in {timeout} s; requests {self.requests},"
                        f" verifications {self.verifications}"
                    )
                self._cond.wait(min(left, 0.1))
