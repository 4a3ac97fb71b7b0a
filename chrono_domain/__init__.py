"""The time and calendar logic of chrono, with no gRPC in it.

Each module reads like a small library: :mod:`chrono_domain.zones` (the pinned IANA
database), :mod:`chrono_domain.civil` (what an instant is on a zone's wall clock),
:mod:`chrono_domain.calendar` (facts about a date), :mod:`chrono_domain.paging` (page
tokens), :mod:`chrono_domain.clock`. Bad input raises the exceptions of
:mod:`chrono_domain.errors`, which the servers turn into gRPC statuses.
"""
