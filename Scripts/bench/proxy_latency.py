"""Latency of one client, one keep-alive connection: a plain chat completion (whole answer)
and a streamed one (time to the first body byte), alternating between the targets so that
both see the same machine load. Prints, per target: "name plain_p50 plain_p99 ttfb_p50 ttfb_p99" (ms).

Usage: proxy_latency.py CALLS TOKEN name=http://host:port[#token] ...   (a target's own token
after '#', else TOKEN; the model is PROXY_MODEL or gpt-4o-mini)
"""
import os
import socket
import sys
import time
from urllib.parse import urlparse

CALLS, TOKEN = int(sys.argv[1]), sys.argv[2]
TARGETS = [(arg.split("=", 1)[0], urlparse(arg.split("=", 1)[1].split("#")[0])) for arg in sys.argv[3:]]
TOKENS = {arg.split("=", 1)[0]: (arg.split("#", 1)[1] if "#" in arg else TOKEN) for arg in sys.argv[3:]}
MODEL = os.environ.get("PROXY_MODEL", "gpt-4o-mini")


def request(stream, token):
    body = ('{"model":"%s","max_tokens":16,"stream":%s,"messages":[{"role":"system","content":"You are terse."},'
            '{"role":"user","content":"Say something short. mock:output=8"}]}' % (MODEL, "true" if stream else "false")).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
            f"x-tollgate-api-key: bench-key\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


class Connection:
    def __init__(self, url, token):
        self.token = token
        self.sock = socket.create_connection((url.hostname, url.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        index = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:index], self.buffer[index:]
        return data

    def read_exactly(self, count):
        while len(self.buffer) < count:
            self.buffer += self.sock.recv(65536)
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def call(self, stream):
        """(seconds to the whole answer, seconds to the first body byte)."""
        started = time.perf_counter()
        self.sock.sendall(request(stream, self.token))
        head = self.read_until(b"\r\n\r\n").decode("latin-1").lower()
        if " 200 " not in head.split("\r\n")[0]:
            raise RuntimeError(head)
        if "content-length:" in head:
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            first = time.perf_counter()
            self.read_exactly(length)
            return time.perf_counter() - started, first - started
        first = None
        while True:  # chunked
            size = int(self.read_until(b"\r\n").strip(), 16)
            if first is None:
                first = time.perf_counter()
            self.read_exactly(size + 2)
            if size == 0:
                return time.perf_counter() - started, first - started


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


connections = {name: Connection(url, TOKENS[name]) for name, url in TARGETS}
plain = {name: [] for name, _ in TARGETS}
ttfb = {name: [] for name, _ in TARGETS}
for index in range(CALLS + 50):
    # The order rotates call by call, so that no target always follows the same one.
    for name, _ in TARGETS[index % len(TARGETS):] + TARGETS[:index % len(TARGETS)]:
        whole, _ = connections[name].call(False)
        _, first = connections[name].call(True)
        if index >= 50:  # warm-up
            plain[name].append(whole)
            ttfb[name].append(first)
for name, _ in TARGETS:
    print(name, *("%.3f" % v for v in (percentile(plain[name], 0.5), percentile(plain[name], 0.99),
                                         percentile(ttfb[name], 0.5), percentile(ttfb[name], 0.99))))
