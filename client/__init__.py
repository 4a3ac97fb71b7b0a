"""The chrono client: a library and the ``chrono`` command."""
