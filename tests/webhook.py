"""A webhook on this machine for the tests of notifications: an HTTP server on a free local
port that keeps each JSON body posted to it and answers `status`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """`posts` holds each JSON body it was sent; every POST is answered `status` (204, or 500
    for a webhook that fails). The URL's path is `path` (a secret in it must never be shown)."""

    def __init__(self, status: int = 204, path: str = "/hooks/rosterflow") -> None:
        self.posts: list[dict] = []
        self.path = path
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                posts.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # (polled every 0.05 s: the default 0.5 s is what each test's shutdown waited)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
