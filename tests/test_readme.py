"""The README's grpcurl commands work as written, against real servers."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.servers import ServerThread
from tests.test_grpcurl import EXIT_INVALID_ARGUMENT, GRPCURL

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_grpcurl_commands() -> list[str]:
    """Every line of a ```sh block in the README that runs grpcurl."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("grpcurl ")]


def test_readme_shows_grpcurl_commands() -> None:
    """The README shows grpcurl calls for listing, describing, each RPC and the health check."""
    text = "\n".join(readme_grpcurl_commands())
    for needle in (
        " list",
        " describe ",
        "/GetTime",
        "/WatchTime",
        "/ListTimeZones",
        "/GetDate",
        "Health/Check",
    ):
        assert needle in text


@pytest.mark.parametrize("command", readme_grpcurl_commands())
def test_readme_grpcurl_command_works(
    command: str, time_server: ServerThread, date_server: ServerThread
) -> None:
    """A grpcurl command from the README succeeds, or fails exactly as the README says."""
    args = shlex.split(command)
    args = [GRPCURL, "-max-time", "10"] + [
        arg.replace("127.0.0.1:50051", time_server.target).replace(
            "127.0.0.1:50052", date_server.target
        )
        for arg in args[1:]
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    expected = EXIT_INVALID_ARGUMENT if "Mars/" in command else 0
    assert result.returncode == expected, result.stderr
