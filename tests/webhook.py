"""A webhook on this machine for the tests of notifications: an HTTP server on a free local
port that keeps each JSON body posted to it and answers `status`."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serving(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> ThreadingHTTPServer:
    """An HTTP server of `handler` on a free local port, serving in a thread of its own (over
    TLS with `tls`); `stop` it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    # (polled every 0.05 s: the default 0.5 s is what each test's shutdown waited)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


class Receiver:
    """`posts` holds each JSON body it was sent; every POST is answered `status` (204, or 500
    for a webhook that fails). The URL's path is `path` (a secret in it must never be shown);
    with `tls`, it is served over HTTPS."""

    def __init__(
        self,
        status: int = 204,
        path: str = "/hooks/rosterflow",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.posts: list[dict] = []
        self.path = path
        self.scheme = "http" if tls is None else "https"
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                posts.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = serving(Handler, tls)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def close(self) -> None:
        stop(self.server)
