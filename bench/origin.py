#!/usr/bin/python3
"""A small HTTP/1.1 origin in Python stdlib (asyncio), for `bench/run --smoke`, where nginx is
not required. The same paths as the nginx origin of the full run:
  GET  /small   200, 64 bytes
  GET  /1m      200, 1 MiB
  POST /upload  reads the whole body (Content-Length or chunked), then 200 "ok\\n"
  GET  any other path: as /small (workload g's paths, bench/routes.py)
anything else 404. Keep-alive unless the request says Connection: close or is HTTP/1.0.

Usage: bench/origin.py PORT     (127.0.0.1; runs until SIGTERM)
"""
import asyncio
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from targets import MIB, SMALL_BODY  # noqa: E402

BIG = b"x" * MIB


async def read_body(reader, headers):
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return
            await reader.readexactly(size + 2)
    left = int(headers.get(b"content-length", b"0"))
    while left > 0:
        chunk = await reader.read(min(left, 262144))
        if not chunk:
            raise ConnectionError("body cut short")
        left -= len(chunk)


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target, version = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    k, v = line.split(b":", 1)
                    headers[k.strip().lower()] = v.strip()
            await read_body(reader, headers)
            path = target.split(b"?")[0]
            if path == b"/small":
                status, body = b"200 OK", SMALL_BODY
            elif path == b"/1m":
                status, body = b"200 OK", BIG
            elif path == b"/upload" and method == b"POST":
                status, body = b"200 OK", b"ok\n"
            elif method in (b"GET", b"HEAD"):
                status, body = b"200 OK", SMALL_BODY
            else:
                status, body = b"404 Not Found", b"not found\n"
            close = (headers.get(b"connection", b"").lower() == b"close"
                     or version.strip() == b"HTTP/1.0")
            writer.write(b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
                         % (status, len(body), b"Connection: close\r\n" if close else b""))
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
