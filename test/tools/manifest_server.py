#!/usr/bin/env python3
"""HTTPS servers on loopback for test/t/005_manifest.pl (python3 standard
library only).

    manifest_server.py DIR NAME:CERT:KEY [NAME:CERT:KEY ...]

Serves the files of DIR/www on 127.0.0.1, one server (on a free port) per
NAME:CERT:KEY, each with its own certificate, and writes each port to
DIR/port-NAME once it listens.  GET /slow/FILE sends FILE one byte every
0.2 seconds (to test the client's timeout).  Runs until killed.
"""
import http.server
import os
import ssl
import sys
import threading
import time

ROOT = os.path.abspath(sys.argv[1])
WWW = os.path.join(ROOT, "www")


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=WWW, **kwargs)

    def do_GET(self):
        if self.path.startswith("/slow/"):
            name = os.path.basename(self.path)
            try:
                with open(os.path.join(WWW, name), "rb") as f:
                    data = f.read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.server.server_port, fmt % args))
        sys.stderr.flush()


def serve(name, cert, key):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port_file = os.path.join(ROOT, "port-" + name)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_port))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


def main():
    threads = []
    for spec in sys.argv[2:]:
        name, cert, key = spec.split(":")
        t = threading.Thread(target=serve, args=(name, cert, key), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
