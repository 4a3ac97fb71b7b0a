"""HTTP/2 floods from a raw client: what grpc core bounds, and that the server answers after.

grpc 1.85 closes neither flood's connection. A header block over the metadata hard limit
(16 KiB) gets its stream refused and is then read and thrown away, however long it runs:
it costs the server CPU, and with grpc's read buffer capped no memory. Streams reset as
soon as they are opened still count against --max-concurrent-streams until the server
has freed them, and new ones past it are refused: the memory they hold is that of the
limit's worth of streams, not of the number of resets. Each flood here is a fixed number
of frames and takes a few seconds at most.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import grpc
import hpack

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import ServiceProcess, hermetic_env

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, REFUSED_STREAM, CANCEL = 0x0, 0x7, 0x8
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 16 * 1024
"""The largest frame payload a peer may send before the server says otherwise."""

MiB = 1024 * 1024

REQUEST_HEADERS = [
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/chrono.time.v1.TimeService/GetTime"),
    (":authority", "127.0.0.1"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
]


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame, as it goes on the wire."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


@dataclass
class Received:
    """What a raw connection has read from the server so far."""

    resets: dict[int, int] = field(default_factory=dict)
    """Error code of each RST_STREAM, by stream id."""
    statuses: dict[int, str] = field(default_factory=dict)
    """The grpc-status the server answered each stream with, by stream id."""
    pongs: set[bytes] = field(default_factory=set)
    """The payloads of the PING ACKs the server has sent."""
    goaway: bytes | None = None
    closed: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)


class RawConnection:
    """A raw HTTP/2 client connection that sends whatever frames it is given, as a flood does.

    A thread reads the server's frames all along, so that the server is never stuck on a
    full socket; it answers nothing by itself, because no frame may come between a
    HEADERS frame and its CONTINUATION frames.
    """

    def __init__(self, port: int) -> None:
        """Connect and exchange SETTINGS, so that the server's own limits are in force."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.received = Received()
        self._settings = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        assert self._settings.wait(10), "no SETTINGS from the server"
        # The server applies its stream limit to this connection once it is acknowledged.
        self.sock.sendall(frame(SETTINGS, ACK, 0))
        self.encoder = hpack.Encoder()

    def _read(self) -> None:
        decoder = hpack.Decoder()
        buffer = b""
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                with self.received.changed:
                    self.received.closed = True
                    self.received.changed.notify_all()
                return
            buffer += data
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                length = int.from_bytes(buffer[:3], "big")
                kind, flags, stream = struct.unpack(">BBI", buffer[3:9])
                payload, buffer = buffer[9 : 9 + length], buffer[9 + length :]
                with self.received.changed:
                    if kind == SETTINGS and not flags & ACK:
                        self._settings.set()
                    elif kind == HEADERS:
                        for name, value in decoder.decode(payload, raw=True):
                            if name == b"grpc-status":
                                self.received.statuses[stream] = value.decode()
                    elif kind == RST_STREAM:
                        self.received.resets[stream & 0x7FFFFFFF] = int.from_bytes(payload, "big")
                    elif kind == PING and flags & ACK:
                        self.received.pongs.add(payload)
                    elif kind == GOAWAY:
                        self.received.goaway = payload
                    self.received.changed.notify_all()

    def wait_for(self, resets: int) -> bool:
        """Whether ``resets`` RST_STREAM frames have come (or the connection ended) within 10 s."""
        with self.received.changed:
            return self.received.changed.wait_for(
                lambda: len(self.received.resets) >= resets or self.received.closed, 10
            )

    def sync(self) -> bool:
        """Whether the server answers a PING within 10 s: then it has read all sent before."""
        self.sock.sendall(frame(PING, 0, 0, b"flooded."))
        with self.received.changed:
            return self.received.changed.wait_for(lambda: b"flooded." in self.received.pongs, 10)

    def resets(self) -> dict[int, int]:
        """The RST_STREAM error codes received so far, by stream id (a copy)."""
        with self.received.changed:
            return dict(self.received.resets)

    def request_headers(self) -> bytes:
        """The header block of a GetTime request, in this connection's HPACK state."""
        block: bytes = self.encoder.encode(REQUEST_HEADERS)
        return block

    def close(self) -> None:
        """Close the socket and let the reader end (shutdown wakes its blocked recv)."""
        # The server may have closed it already.
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(10)


def memory(process: ServiceProcess, key: str = "VmRSS") -> int:
    """The process's resident set size in bytes (VmHWM: its peak so far), from /proc."""
    with open(f"/proc/{process.process.pid}/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} line")


@contextmanager
def time_service(*flags: str) -> Iterator[tuple[ServiceProcess, int]]:
    """A time-service process on the grpcio engine (the floods test grpc core), and its port."""
    env = hermetic_env(TIME_SERVICE_ENGINE="grpcio")
    with ServiceProcess(["-m", "time_service", "--port", "0", *flags], env=env) as process:
        yield process, process.wait_for_port()


def assert_answers(port: int) -> None:
    """A normal GetTime on a new connection gets its answer."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = pb_grpc.TimeServiceStub(channel).GetTime(pb.GetTimeRequest(), timeout=10)
    assert reply.time_zone == "UTC"


def test_a_continuation_flood_costs_the_server_no_memory() -> None:
    """A header block that never ends is refused past 16 KiB; 128 MiB more of it take no memory.

    The server answers the stream RESOURCE_EXHAUSTED and resets it, reads the rest of the
    block only to throw it away, and answers other callers meanwhile. Without a cap on
    grpc's read buffer, the peak grew by 45 MiB on this flood in one run of three.
    """
    # A literal header field, not indexed, that HPACK decodes and discards: 30 bytes.
    field_bytes = b"\x00\x07x-flood\x14" + b"a" * 20
    chunk = frame(CONTINUATION, 0, 1, field_bytes * (MAX_FRAME // len(field_bytes)))
    with time_service() as (process, port):
        flood = RawConnection(port)
        try:
            flood.sock.sendall(frame(HEADERS, 0, 1, flood.request_headers()))
            flood.sock.sendall(chunk * 2)
            assert flood.wait_for(resets=1)
            assert flood.resets() == {1: NO_ERROR}
            exhausted = str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
            assert flood.received.statuses == {1: exhausted}
            before = memory(process)
            for _ in range(128):
                flood.sock.sendall(chunk * 64)
            grown = memory(process, "VmHWM") - before
            assert grown < 8 * MiB, f"peak RSS grew {grown / MiB:.1f} MiB over a 128 MiB flood"
            assert_answers(port)
        finally:
            flood.close()


def test_a_peer_past_the_stream_limit_is_refused() -> None:
    """A peer that ignores SETTINGS_MAX_CONCURRENT_STREAMS gets REFUSED_STREAM for the excess."""
    with time_service("--max-concurrent-streams", "10") as (_, port):
        peer = RawConnection(port)
        try:
            # 30 requests whose bodies never come: the first 10 stay open.
            opened = range(1, 61, 2)
            peer.sock.sendall(
                b"".join(frame(HEADERS, END_HEADERS, s, peer.request_headers()) for s in opened)
            )
            assert peer.wait_for(resets=20)
            assert peer.resets() == dict.fromkeys(opened[10:], REFUSED_STREAM)
            assert_answers(port)
        finally:
            peer.close()


def rapid_resets(port: int, count: int) -> RawConnection:
    """Open and at once reset ``count`` streams on one connection, as fast as it writes."""
    peer = RawConnection(port)
    first = frame(HEADERS, END_HEADERS, 1, peer.request_headers())
    # Later requests repeat the first one's fields, all indexed now: a few bytes each.
    block = peer.request_headers()
    batch = 1000
    for start in range(0, count, batch):
        peer.sock.sendall(
            b"".join(
                (first if s == 1 else frame(HEADERS, END_HEADERS, s, block))
                + frame(RST_STREAM, 0, s, struct.pack(">I", CANCEL))
                for s in range(2 * start + 1, 2 * (start + batch) + 1, 2)
            )
        )
    return peer


def test_rapid_resets_hold_no_more_than_the_stream_limit() -> None:
    """500,000 streams opened and reset at once grow peak RSS by what 100 open streams take.

    The server refuses streams past --max-concurrent-streams with REFUSED_STREAM and
    answers afterwards. With grpc.http.overload_protection off, the peak grew 719 MiB; a
    bare grpc.aio server, with no limit at all, grew 73 MiB and then cancelled a GetTime.
    """
    with time_service("--max-concurrent-streams", "100") as (process, port):
        before = memory(process)
        peer = rapid_resets(port, 500_000)
        try:
            assert peer.sync(), "the server did not read the flood to its end"
            assert_answers(port)
            grown = memory(process, "VmHWM") - before
            assert grown < 16 * MiB, f"peak RSS grew {grown / MiB:.1f} MiB over 500,000 resets"
            assert REFUSED_STREAM in peer.resets().values()
        finally:
            peer.close()
