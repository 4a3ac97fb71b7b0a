"""Benchmarks of chrono's time service against bare grpcio and Flask baselines.

``scripts/bench`` runs them through :mod:`bench.run`. The baseline servers are
:mod:`bench.bare_grpcio_aio`, :mod:`bench.bare_grpcio_sync` and :mod:`bench.flask_time`;
:mod:`bench.watch_client` is the client process of the WatchTime capacity run.
"""
