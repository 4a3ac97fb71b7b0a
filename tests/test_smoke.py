"""A first call to each service over a real channel."""

import grpc

from chrono.date.v1 import date_service_pb2, date_service_pb2_grpc
from chrono.time.v1 import time_service_pb2, time_service_pb2_grpc
from tests.servers import ServerThread


def test_both_services_answer(time_server: ServerThread, date_server: ServerThread) -> None:
    """Each server answers its own RPC with the zone it was asked for."""
    with grpc.insecure_channel(time_server.target) as channel:
        stub = time_service_pb2_grpc.TimeServiceStub(channel)
        reply = stub.GetTime(time_service_pb2.GetTimeRequest(time_zone="Asia/Kathmandu"), timeout=5)
        assert reply.time_zone == "Asia/Kathmandu"
    with grpc.insecure_channel(date_server.target) as channel:
        date_stub = date_service_pb2_grpc.DateServiceStub(channel)
        date_reply = date_stub.GetDate(date_service_pb2.GetDateRequest(), timeout=5)
        assert date_reply.time_zone == "UTC"
