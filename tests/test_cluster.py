"""Cluster configurations: Ray's own validator, and the security rules aws.yaml must keep."""

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from ray.autoscaler._private.util import (
    fill_node_type_min_max_workers,
    merge_setup_commands,
    prepare_config,
    validate_config,
)

from a2c_ray.results import load_curves, load_trials

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
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



def _raylet_of(node_id):
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "raylet/raylet" in cmd and f"--node_id={node_id}" in cmd:
            return p
    return None


def _running_trials(exp):
    """(trial dir, node id) of unfinished trials that have written a checkpoint."""
    out = []
    for result in exp.glob("run_trial_*/result.json"):
        lines = [ln for ln in result.read_text().splitlines() if ln.strip()]
        try:
            last = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            continue
        if last and not last.get("done") and (result.parent / "checkpoint" / "latest").is_file():
            out.append((result.parent, last["node_id"]))
    return out


@pytest.mark.slow
def test_sweep_on_a_local_multinode_cluster(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(
        {"learning_rate": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True}}))
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1"}
    start = time.monotonic()
    subprocess.run(["ray", "start", "--head", "--num-cpus", "0", "--disable-usage-stats",
                    f"--autoscaling-config={CLUSTER / 'local.yaml'}"],
                   env=env, check=True, capture_output=True, timeout=120)
    try:
        sweep = subprocess.Popen(
            [sys.executable, "-m", "a2c_ray.tune", "--address", "auto", "--shared-storage",
             "--num-samples", "4", "--env", "CartPole-v1", "--max-steps", "61440",
             "--grace-steps", "61440", "--set", "eval_episodes=2", "--checkpoint-every", "20",
             "--max-failures", "3", "--max-concurrent-trials", "2",
             "--storage-path", str(tmp_path), "--name", "multi",
             "--search-space", str(space)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        exp = tmp_path / "multi"
        killed = None
        deadline = time.monotonic() + 600
        while killed is None and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.5)
            running = _running_trials(exp)
            if len({node for _, node in running}) >= 2:  # two worker nodes busy: kill one
                trial_dir, node = running[0]
                raylet = _raylet_of(node)
                if raylet is not None:
                    for p in [*raylet.children(recursive=True), raylet]:
                        p.kill()
                    killed = (trial_dir, node)
        out, _ = sweep.communicate(timeout=900)
        assert killed is not None, "trials never ran on two nodes at once:\n" + out[-3000:]
        assert sweep.returncode == 0, out[-3000:]
        summary = json.loads((exp / "summary.json").read_text())
        assert summary["num_trials"] == 4
        assert summary["trials_by_status"] == {"TERMINATED": 4}
        trials, curves = load_trials(exp), load_curves(exp)
        nodes = curves["node_id"].nunique()  # every node any trial reported from
        assert nodes >= 2
        lost = trials[trials["trial_dir"] == str(killed[0])].iloc[0]
        assert lost["env_steps"] >= 61440 and lost["node_id"] != killed[1]
        assert "resumes from" in out
        print(f"\nmultinode: trials ran on {nodes} nodes, the trial on the killed node resumed "
              f"from its checkpoint, {time.monotonic() - start:.0f} s")
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, timeout=120)
