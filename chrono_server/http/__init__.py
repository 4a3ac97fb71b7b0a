"""HTTP/JSON for chrono's services: every RPC transcoded from its ``google.api.http`` rule.

``server`` is the listener a server runs on ``--http-port``; ``transcode`` reads the rules
and turns requests into messages; ``context`` is the servicer context of an HTTP call;
``status`` gives gRPC statuses as Google's HTTP error bodies; ``openapi`` and ``docs``
describe the API at ``/openapi.json`` and ``/docs``.
"""
