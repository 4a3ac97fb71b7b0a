"""chrono.date.v1.DateService: the current date in any IANA time zone."""
