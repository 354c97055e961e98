"""A TCP proxy on 127.0.0.1 in front of a real server, which can cut every connection at once.

Network fault injection for servers without a command that ends other clients'
sessions (MongoDB's killOp ends operations, not connections; Neo4j Community has
none): the client connects to the proxy, the proxy to the server, and `cut()`
resets every open pair, as a broken network or a crashed server would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class CuttingProxy:
    """Forwards 127.0.0.1:`port` to `target_port`; `cut()` drops every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cuts = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), 5
            )
        except (OSError, TimeoutError):
            _reset(client_w)
            return
        pair = (client_w, server_w)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
        finally:
            self._pairs.discard(pair)
            _reset(client_w)
            _reset(server_w)

    def cut(self) -> int:
        """Reset every open connection (both sides); returns how many were cut."""
        pairs = list(self._pairs)
        for client_w, server_w in pairs:
            _reset(client_w)
            _reset(server_w)
        self.cuts += 1
        return len(pairs)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.cut()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN: the peer sees a broken connection."""
    if writer.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
