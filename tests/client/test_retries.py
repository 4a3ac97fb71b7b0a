"""The client replays only the calls its contract marks safe, when a server dies mid-call."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from client._common import channel_options
from tests.chrono_server.helpers import ServiceProcess
from tests.ledger import LEDGER, AppendRequest, AppendResponse, ReadRequest, ReadResponse


def ledger(port: int, hang: bool) -> ServiceProcess:
    """A ledger-service process on ``port`` (0: any free one)."""
    return ServiceProcess(["-m", "tests.ledger", "--port", str(port), "--hang", str(int(hang))])


def method(channel: grpc.Channel, name: str) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
    """The ledger's ``name`` method on ``channel``."""
    request, response = {
        "Read": (ReadRequest, ReadResponse),
        "Append": (AppendRequest, AppendResponse),
    }[name]
    return channel.unary_unary(
        f"/{LEDGER.full_name}/{name}",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )


def entered(process: ServiceProcess, name: str) -> int:
    """How many calls of ``name`` the process logged as entered."""
    return sum(line.endswith(f"entered {name}") for line in process.lines)


@pytest.mark.parametrize(("name", "replayed"), [("Read", True), ("Append", False)])
def test_only_safe_methods_are_replayed_after_the_server_dies(name: str, replayed: bool) -> None:
    """Killed mid-call, a server's NO_SIDE_EFFECTS call is resent to its successor; a write is not.

    The client's channel options are the ones its library uses, with the retry policy
    derived from the service descriptor; the call waits for a server to be ready, so a
    replayed call would reach the successor started on the same port.
    """
    with ledger(0, hang=True) as first:
        port = first.wait_for_port()
        options = channel_options(LEDGER)
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            call = method(channel, name).future(
                (ReadRequest if name == "Read" else AppendRequest)(),
                timeout=20,
                wait_for_ready=True,
            )
            first.wait_for_line(f"entered {name}$")
            first.process.kill()
            first.process.wait(10)
            with ledger(port, hang=False) as second:
                second.wait_for_port()
                if replayed:
                    assert call.result().count == 0
                else:
                    with pytest.raises(grpc.RpcError) as failure:
                        call.result()
                    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
                # A read after it shows the successor serving, and flushes its log lines.
                method(channel, "Read")(ReadRequest(), timeout=10, wait_for_ready=True)
                second.process.terminate()
                assert second.finish() == 0
    if replayed:
        assert entered(second, "Read") == 2
    else:
        assert (entered(second, "Append"), entered(second, "Read")) == (0, 1)
