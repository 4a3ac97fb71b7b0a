"""``chrono health [time|date]``: each service's grpc.health.v1 status, one line each."""

from __future__ import annotations

import argparse
import json

import grpc
from grpc_health.v1 import health_pb2

from client import DateClient, TimeClient
from client.cli.context import ClientT, Context
from client.cli.errors import EXIT_FAILED, EXIT_OK, Service
from client.cli.options import Subparsers


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``health`` and its optional service argument to ``subparsers``."""
    parser = subparsers.add_parser(
        "health",
        parents=[common],
        help="check that the services are SERVING (exit 0) or not (exit 1)",
    )
    parser.add_argument(
        "service",
        nargs="?",
        choices=("time", "date"),
        help="the service to check (default: both)",
    )
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    """Print the line of each service checked; 0 if every one is SERVING, else 1."""
    serving = []
    if context.args.service in (None, "time"):
        serving.append(_check(context, TimeClient, context.time))
    if context.args.service in (None, "date"):
        serving.append(_check(context, DateClient, context.date))
    return EXIT_OK if all(serving) else EXIT_FAILED


def _check(context: Context, client_class: type[ClientT], service: Service) -> bool:
    """Print ``service``'s health line; True if it is SERVING.

    A check that fails is a status too: its code is printed in the line, with the reason.
    """
    error = ""
    with context.connect(client_class, service) as client:
        try:
            response = client.check_health()
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        except grpc.RpcError as failure:
            status = failure.code().name
            error = " ".join((failure.details() or "").split())
    if context.args.json:
        fields = {"service": service.prog, "target": service.target, "status": status}
        print(json.dumps({**fields, **({"error": error} if error else {})}), flush=True)
    else:
        print(f"{service.prog} {service.target}: {status}", end="")
        print(f" ({error})" if error else "", flush=True)
    return status == "SERVING"
