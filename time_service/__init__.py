"""chrono.time.v1.TimeService: the current time in any IANA time zone."""
