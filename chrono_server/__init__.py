"""What the chrono services share: configuration, zones, errors and the server lifecycle.

The two services differ only in their servicers; everything else lives here once.
"""
