#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""notify_receiver.py - a webhook receiver for the notifier's integration tests (stdlib only).

Usage: notify_receiver.py PORT OUTDIR
Records every POST, in arrival order, as OUTDIR/NNNN.json (the body) and OUTDIR/NNNN.meta
(a JSON object with the path and the headers), numbering on from the files already there, so a
receiver restarted on the same OUTDIR continues the sequence. Answers 200. Binds 127.0.0.1.
"""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        out = self.server.outdir
        seq = len([f for f in os.listdir(out) if f.endswith(".json")]) + 1
        base = os.path.join(out, "%04d" % seq)
        meta = {"path": self.path, "headers": {k: v for k, v in self.headers.items()}}
        with open(base + ".meta.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".meta.tmp", base + ".meta")
        with open(base + ".json.tmp", "wb") as f:
            f.write(body)
        os.rename(base + ".json.tmp", base + ".json")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
    srv.allow_reuse_address = True
    srv.outdir = outdir
    srv.serve_forever()


if __name__ == "__main__":
    main()
