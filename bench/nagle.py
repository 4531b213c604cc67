#!/usr/bin/python3
"""bench/nagle.py - what Nagle's algorithm costs a proxy and an API that write in pieces: figures,
never assertions; loopback only, bounded (a few seconds).

  GAAPD=build/gaapd bench/nagle.py

1. Keep-alive GETs through a gaapd listener to a Python origin (tests/e2e/harness.py's Origin,
   which writes a response's head and body in two writes): ms per request, one connection.
2. 16 pipelined API calls (DescribeHTTPListeners) on one kept connection
   (bench/provision.py's KeepAliveClient): ms per batch.
Without TCP_NODELAY on gaapd's sockets, each waited for the peer's delayed ACK (~40 ms)."""
import http.client
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests", "e2e")]
sys.dont_write_bytecode = True

from harness import PROXY, Gaapd, Origin, free_port  # noqa: E402
from provision import KeepAliveClient  # noqa: E402


def main():
    origin = Origin()
    g = Gaapd(proxies=[{"id": PROXY, "status": "RUNNING", "max_listeners": 10,
                        "origins": [f"127.0.0.1:{origin.port}"]}])
    try:
        g.start()
        port = free_port()
        g.create(port)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 100
        start = time.monotonic()
        for _ in range(n):
            c.request("GET", "/x", headers={"Host": "a"})
            c.getresponse().read()
        print(f"keep-alive GET through gaapd, two-write origin: "
              f"{(time.monotonic() - start) / n * 1000:.2f} ms per request ({n})")
        c.close()
        api = KeepAliveClient(g.port)
        calls = [("DescribeHTTPListeners", {"ProxyId": PROXY})] * 16
        api.call_pipelined(calls)
        start = time.monotonic()
        for _ in range(20):
            api.call_pipelined(calls)
        print(f"16 pipelined API calls on one connection: "
              f"{(time.monotonic() - start) / 20 * 1000:.2f} ms per batch (20)")
    finally:
        g.cleanup()
        origin.close()


if __name__ == "__main__":
    main()
