"""Three replica processes under continuous load from the client library, losing some.

Each phase runs 4 threads of GetTime calls for a few seconds (bounded in count too)
through one client whose target lists the three replicas.
"""

from __future__ import annotations

import pytest

import client.__main__ as cli
from client import TimeClient
from tests.client.replicas import Load, Replica, list_target, replicas, run_load

TIMEOUT = 2.0
# A failed call may overrun its deadline by the time the client takes to notice.
DEADLINE_SLACK = 0.5


def summary(load: Load) -> str:
    """The failures of a load run, grouped for an assert message."""
    codes: dict[str, int] = {}
    for code, _, _ in load.failures:
        codes[code] = codes.get(code, 0) + 1
    first = load.failures[0][2] if load.failures else ""
    return f"{len(load.failures)} of {load.calls} calls failed {codes}; first: {first}"


def test_sigkill_of_one_replica_under_load_loses_no_call() -> None:
    """SIGKILL of one replica mid-load fails no call: in-flight ones are retried elsewhere."""
    with replicas(3) as cluster, TimeClient(list_target(cluster), timeout=TIMEOUT) as client:
        served_before: list[int] = []

        def kill() -> None:
            served_before.append(cluster[0].served())
            cluster[0].sigkill()

        load = run_load(client, 3.0, action_at=1.5, action=kill)
    assert load.failures == [], summary(load)
    assert served_before[0] > 0, "the killed replica had served nothing"
    assert load.calls_after_action > 0


def test_sigterm_of_one_replica_under_load_loses_no_call() -> None:
    """SIGTERM (drain) of one replica mid-load fails no call, and the replica exits 0."""
    with replicas(3) as cluster, TimeClient(list_target(cluster), timeout=TIMEOUT) as client:
        exits: list[int] = []

        def drain() -> None:
            exits.append(cluster[0].terminate())

        load = run_load(client, 3.0, action_at=1.5, action=drain)
    assert load.failures == [], summary(load)
    assert exits == [0]
    assert any("health set to NOT_SERVING" in line for line in cluster[0].lines)
    assert load.calls_after_action > 0


@pytest.mark.parametrize("stop", ["sigkill", "terminate"])
def test_all_replicas_down_fails_each_call_within_its_deadline(
    stop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With every replica gone, each call fails UNAVAILABLE or DEADLINE_EXCEEDED, in time."""
    with replicas(3) as cluster, TimeClient(list_target(cluster), timeout=TIMEOUT) as client:
        assert run_load(client, 0.5).failures == []
        for replica in cluster:
            getattr(replica, stop)()
        load = run_load(client, 2.0, max_calls=200)
        assert cli.main(["--time-target", list_target(cluster), "--timeout", "1", "time"]) == 1
    assert len(load.failures) == load.calls > 0
    assert {code for code, _, _ in load.failures} <= {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
    slowest = max(elapsed for _, elapsed, _ in load.failures)
    assert slowest <= TIMEOUT + DEADLINE_SLACK, slowest
    assert all(details for _, _, details in load.failures)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"chrono: cannot reach the time service at {list_target(cluster)}")


def test_restarted_replica_gets_traffic_again() -> None:
    """A replica restarted on its old port gets calls again, and alone can carry the load."""
    with replicas(3) as cluster, TimeClient(list_target(cluster), timeout=TIMEOUT) as client:
        cluster[0].sigkill()
        before = run_load(client, 1.0)
        cluster.append(Replica(cluster[0].port))
        after = run_load(client, 3.0)
        served = cluster[3].served()
        # The two others drained: the restarted replica alone now answers.
        for replica in cluster[1:3]:
            replica.terminate()
        alone = run_load(client, 1.0)
        served_alone = cluster[3].served() - served
    for load in (before, after, alone):
        assert load.failures == [], summary(load)
    assert served > 0, "the restarted replica got no calls"
    assert served_alone > 0
