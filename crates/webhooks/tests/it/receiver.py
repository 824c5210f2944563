"""A webhook receiver for the tests: verifies every delivery with the `standardwebhooks`
library from PyPI (an implementation of the Standard Webhooks specification we did not write).

Prints its port, then serves:
  PUT  /_config/<name>  {"secrets": ["whsec_…"], "status": 204}  how <name> verifies and answers
  POST /<name>          a delivery: verified with each secret in turn; answers `status` when one
                        verifies, 401 when none does
  GET  /_log/<name>     every request to <name>: {"verified", "id", "event", "delivery", "body"}
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

CONFIG = {}
LOG = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("content-length", "0")))

    def do_PUT(self):
        name = self.path.removeprefix("/_config/")
        with LOCK:
            CONFIG[name] = json.loads(self.body())
        self.reply(204)

    def do_GET(self):
        name = self.path.removeprefix("/_log/")
        with LOCK:
            out = json.dumps(LOG.get(name, [])).encode()
        self.reply(200, out)

    def do_POST(self):
        name = self.path.lstrip("/")
        raw = self.body()
        headers = {k: v for k, v in self.headers.items()}
        with LOCK:
            config = CONFIG.get(name, {"secrets": [], "status": 204})
        verified, error = False, None
        for secret in config["secrets"]:
            try:
                Webhook(secret).verify(raw, headers)
                verified = True
                break
            except Exception as e:  # noqa: BLE001 - the reason is what the test reads
                error = str(e)
        entry = {
            "verified": verified,
            "error": error,
            "id": self.headers.get("webhook-id"),
            "event": self.headers.get("x-webhook-event"),
            "delivery": self.headers.get("x-webhook-delivery"),
            "signatures": len((self.headers.get("webhook-signature") or "").split()),
            "body": json.loads(raw or b"null"),
        }
        with LOCK:
            LOG.setdefault(name, []).append(entry)
        self.reply(config["status"] if verified else 401, b"ok" if verified else b"bad signature")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
