"""The OpenAPI documents of chrono's services, served at ``/openapi.json``.

``scripts/generate`` writes one document a service from the protos, beside the stubs of
the service's package (``generated/chrono/time/v1/time_service.openapi.json``), and
they ship as package data; nothing here builds or changes one. Each names its gRPC
service in ``info.x-grpc-service``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging

logger = logging.getLogger(__name__)

SUFFIX = ".openapi.json"


@functools.cache
def _documents(package: str) -> dict[str, bytes]:
    """The documents in ``package``, by the full name of the service each describes."""
    found: dict[str, bytes] = {}
    for entry in importlib.resources.files(package).iterdir():
        if entry.name.endswith(SUFFIX):
            content = entry.read_bytes()
            found[json.loads(content)["info"]["x-grpc-service"]] = content
    logger.debug("OpenAPI documents in %s: %s", package, sorted(found))
    return found


def document(service_full_name: str) -> bytes:
    """The OpenAPI document of ``service_full_name`` (``chrono.time.v1.TimeService``), as JSON.

    Read from the service's generated package once, then kept. Raises LookupError for a
    service that has none.
    """
    package = service_full_name.rpartition(".")[0]
    if not package:
        raise LookupError(f"{service_full_name!r} is not a full service name")
    try:
        documents = _documents(package)
    except ModuleNotFoundError as error:
        raise LookupError(f"no package {package!r} for {service_full_name!r}") from error
    try:
        return documents[service_full_name]
    except KeyError:
        raise LookupError(
            f"no OpenAPI document for {service_full_name!r} in {package!r}: "
            "scripts/generate writes them"
        ) from None
