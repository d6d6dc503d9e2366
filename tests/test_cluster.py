"""Cluster configurations: Ray's own validator, and the security rules aws.yaml must keep."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import (
    fill_node_type_min_max_workers,
    merge_setup_commands,
    prepare_config,
    validate_config,
)

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
CONFIGS = sorted(CLUSTER.glob("*.yaml"))


def load(path):
    return yaml.safe_load(path.read_text())


def prepared(config):
    if config["provider"]["type"] == "fake_multinode":
        # prepare_config merges the provider's defaults from fake_multi_node/example.yaml,
        # which the Ray wheel does not ship; every other step of prepare_config runs.
        config = copy.deepcopy(config)
        merge_setup_commands(config)
        fill_node_type_min_max_workers(config)
        return config
    return prepare_config(config)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_cluster_yaml_passes_rays_validator(path):
    validate_config(prepared(load(path)))


def test_aws_security_rules():
    config = load(CLUSTER / "aws.yaml")
    text = (CLUSTER / "aws.yaml").read_text()
    # the only inbound rule open to the world is SSH
    for rule in config["provider"]["security_group"]["IpPermissions"]:
        world = any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
        world |= any(r.get("CidrIpv6") == "::/0" for r in rule.get("Ipv6Ranges", []))
        if world:
            assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (22, 22, "tcp")
    # the dashboard and job API never listen on every interface
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert "0.0.0.0" not in head and "--ray-client-server-port" not in head
    # token authentication on every node, with the token shipped through file_mounts
    for cmd in (config["head_start_ray_commands"][-1], config["worker_start_ray_commands"][-1]):
        assert "RAY_AUTH_MODE=token" in cmd and "RAY_AUTH_TOKEN_PATH=" in cmd
    token_path = head.split("RAY_AUTH_TOKEN_PATH=")[1].split()[0]
    assert token_path in config["file_mounts"]
    # no credentials in the file: results reach S3 through an instance profile
    for secret in ("aws_access_key_id", "aws_secret_access_key", "AKIA", "RAY_AUTH_TOKEN="):
        assert secret not in text
    for node_type in config["available_node_types"].values():
        if node_type["node_config"]:
            assert node_type["node_config"]["IamInstanceProfile"]["Name"]
    # the head runs no trials; workers scale from zero and idle ones go away
    head_type = config["available_node_types"][config["head_node_type"]]
    assert head_type["resources"] == {"CPU": 0}
    workers = [v for k, v in config["available_node_types"].items()
               if k != config["head_node_type"]]
    assert workers and all(w["min_workers"] == 0 for w in workers)
    assert any(w["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"
               for w in workers)
    assert config["idle_timeout_minutes"] > 0


def test_every_aws_field_has_a_comment():
    fields = 0
    for line in (CLUSTER / "aws.yaml").read_text().splitlines():
        key = re.match(r"^\s*(- )?[A-Za-z_][\w.]*:(\s|$)", line)
        if not key or line.rstrip().endswith(":"):
            continue  # not a field, or a mapping whose children say why
        fields += 1
        assert "#" in line, f"field without a comment: {line!r}"
    assert fields > 30

