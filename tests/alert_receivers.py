"""Real receivers for the alert tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver,
both on 127.0.0.1, both able to go down and come back."""

from __future__ import annotations

import json
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tasks.stack.services import free_port


class SmtpReceiver:
    """aiosmtpd on a free port; ``mails`` are the parsed messages it accepted. With ``user``, it
    requires that login (over plain SMTP: TLS is not what is under test)."""

    def __init__(self, user: str | None = None, password: str | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mails: list = []
        self.port = free_port()
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.mails.append(message_from_bytes(envelope.original_content))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = user is not None and auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

        options = {"authenticator": authenticator, "auth_require_tls": False} if user else {}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class WebhookReceiver:
    """An HTTP server on a free port keeping each POSTed JSON body; ``down`` makes it answer 503."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"down for maintenance")
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T0/B0/X"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
