"""Single targets: every form gRPC dials passes unchanged, a port it cannot dial is refused."""

from __future__ import annotations

import pytest

from client._targets import parse_target


@pytest.mark.parametrize(
    "target",
    [
        "localhost",
        "localhost:http",
        "127.0.0.1:https",
        "[::1]",
        "[::1]:50051",
        "::1",
        "dns:///time.example:50051",
        "dns://8.8.8.8:53/time.example:50051",
        "dns:time.example:1",
        "ipv4:10.0.0.1:50051",
        "unix:/run/chrono/time.sock",
        "unix:relative.sock",
        "vsock:3:50051",
        "passthrough:///time.example:50051",
    ],
)
def test_dialable_single_targets_pass_unchanged(target: str) -> None:
    """A single target gRPC can dial, with or without a port or a scheme, is kept as is."""
    assert parse_target(target).dial == target


@pytest.mark.parametrize(
    ("target", "port"),
    [
        ("127.0.0.1:notaport", "notaport"),
        ("localhost:", ""),
        ("localhost:0", "0"),
        ("localhost:65536", "65536"),
        ("localhost:+80", "+80"),
        ("localhost:HTTP", "HTTP"),
        ("[::1]:x", "x"),
        ("dns:///time.example:x", "x"),
        ("dns://8.8.8.8/time.example:x", "x"),
        ("dns:time.example:x", "x"),
    ],
)
def test_single_target_with_an_unusable_port_is_refused(target: str, port: str) -> None:
    """A bare or dns: target whose port is not 1-65535, http or https: ValueError naming both."""
    with pytest.raises(ValueError, match="the port must be a number from 1 to 65535") as caught:
        parse_target(target)
    assert f"target {target!r}" in str(caught.value)
    assert str(caught.value).endswith(f"not {port!r}")
