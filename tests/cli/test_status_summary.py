"""`streamcore status`'s text: the cluster lines appear once there is more than one replica."""

from __future__ import annotations

from typing import Any

from cli.commands.status import summary

BASE: dict[str, Any] = {
    "version": "1",
    "running": True,
    "backends": {"bus": "redis", "store": "postgresql"},
    "auth": {"state": "ok", "login": "caster"},
    "gateway": {"state": "connected"},
}


def test_one_replica_prints_no_cluster_lines() -> None:
    status = {**BASE, "cluster": {"replicas": [{"id": "a", "alive": True, "self": True}]}}
    assert "Cluster" not in summary(status)


def test_each_replica_is_listed_with_its_role_and_shards() -> None:
    cluster = {
        "coordinator": {"replica_id": "a", "fencing_token": 7},
        "replicas": [
            {"id": "a", "alive": True, "self": True, "holds": {"coordinator": True}},
            {"id": "b", "alive": False, "last_seen_age_s": 12.0, "holds": {"shards": [0, 2]}},
        ],
    }
    text = summary({**BASE, "cluster": cluster})
    assert "Cluster: 2 replicas, coordinator a" in text
    assert "  a (this one): alive, coordinator" in text
    assert "  b: gone 12.0s, shards 0,2" in text
