"""The contracts declare what clients need to treat each RPC safely."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import MethodDescriptor

from chrono.date.v1 import date_service_pb2
from chrono.time.v1 import time_service_pb2

METHODS = [
    method
    for module in (time_service_pb2, date_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.mark.parametrize("method", METHODS, ids=[method.full_name for method in METHODS])
def test_every_rpc_declares_its_idempotency(method: MethodDescriptor) -> None:
    """Each RPC sets idempotency_level explicitly: the client's retries are derived from it."""
    assert method.GetOptions().HasField("idempotency_level")
