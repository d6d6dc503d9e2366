"""Cluster configurations: Ray's own validator, and the security rules aws.yaml must keep."""

import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
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
from tests.processes import kill_session, raylets, session_of_gcs_port

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
CONFIGS = sorted(CLUSTER.glob("*.yaml"))
HEAD_PORT = 6379  # `ray start --head`'s GCS port unless --port says otherwise


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



def _raylet_hosting(pid):
    """The raylet that started worker process ``pid``; None once the process has ended."""
    try:
        return next((p for p in psutil.Process(pid).parents()
                     if "raylet/raylet" in " ".join(p.cmdline())), None)
    except psutil.NoSuchProcess:
        return None


def _running_trials(exp):
    """(trial dir, node id, pid) of running trials that have written a checkpoint.

    Running means the trial's process is alive and this is the newest trial it reported for:
    a result without ``done`` is also the last one of a trial that ASHA stopped, at its rung
    or at the budget, and the sweep runs its next trial in the same process.
    """
    newest = {}
    for result in exp.glob("run_trial_*/result.json"):
        lines = [ln for ln in result.read_text().splitlines() if ln.strip()]
        try:
            last = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            continue
        if last and psutil.pid_exists(last["pid"]) and (
                last["pid"] not in newest or last["timestamp"] > newest[last["pid"]][0]):
            newest[last["pid"]] = (last["timestamp"], result.parent, last)
    return [(trial_dir, last["node_id"], pid) for pid, (_, trial_dir, last) in newest.items()
            if not last.get("done") and (trial_dir / "checkpoint" / "latest").is_file()]


def readme_cluster_commands():
    """The cluster guide's fake-cluster commands, as argument lists run by this interpreter."""
    readme = (ROOT / "docs" / "cluster.md").read_text()
    block = next(b for b in readme.split("```")[1::2] if "RAY_FAKE_CLUSTER=1 ray start" in b)
    commands = []
    for line in block.strip().splitlines():
        words = shlex.split(line)
        env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
        words = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
        program = {"ray": [sys.executable, "-m", "ray.scripts.scripts"],
                   "python": [sys.executable]}[words[0]]
        commands.append((env, program + words[1:]))
    return commands


@pytest.mark.slow
def test_readme_sweep_grows_the_fake_autoscaling_cluster(tmp_path):
    (start_env, start_cmd), (_, sweep_cmd), (_, stop_cmd) = readme_cluster_commands()
    # `ray stop --force` ends every Ray cluster on the machine, a user's sweep or another
    # test's included: the test ends its own cluster's processes instead, the same way
    assert stop_cmd[-2:] == ["stop", "--force"]
    assert "--max-concurrent-trials" not in sweep_cmd  # concurrency comes from the cluster
    # A user's fresh shell: HOME in tmp_path (so ~/a2c_ray_results is there), and none of the
    # Ray settings an earlier in-process ray.init() of the test session left in os.environ.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TUNE_"))}
    env["HOME"] = str(tmp_path)
    begin = time.monotonic()
    started = subprocess.run(start_cmd, env={**env, **start_env}, capture_output=True,
                             text=True, timeout=120, cwd=ROOT)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
    session = session_of_gcs_port(HEAD_PORT)
    assert session, started.stdout[-2000:]
    try:
        sweep = subprocess.Popen(sweep_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env, cwd=ROOT)
        exp = tmp_path / "a2c_ray_results" / "local-cluster"
        nodes_seen, killed = {len(raylets(session))}, None
        deadline = time.monotonic() + 600
        while killed is None and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.5)
            nodes_seen.add(len(raylets(session)))
            running = _running_trials(exp)
            if running and len(raylets(session)) >= 3:  # grown to two workers: kill a trial's node
                trial_dir, node, pid = running[0]
                raylet = _raylet_hosting(pid)
                if raylet is not None:
                    for p in [*raylet.children(recursive=True), raylet]:
                        p.kill()
                    killed = (trial_dir, node, pid)
        out, _ = sweep.communicate(timeout=900)
        assert killed is not None, "no trial ran on a grown cluster:\n" + out[-3000:]
        assert sweep.returncode == 0, out[-3000:]
        assert "up to 2 trials at once: the cluster can grow to 2 CPUs" in out, out[-3000:]
        assert min(nodes_seen) == 1 and max(nodes_seen) >= 3  # grew from the head alone
        summary = json.loads((exp / "summary.json").read_text())
        assert summary["num_trials"] == 4
        assert summary["trials_by_status"] == {"TERMINATED": 4}
        trials, curves = load_trials(exp), load_curves(exp)
        assert curves["node_id"].nunique() >= 2  # every node any trial reported from
        lost = trials[trials["trial_dir"] == str(killed[0])].iloc[0]
        # It finished after a restart from its checkpoint. (Not "on another node id": the fake
        # provider numbers nodes from a counter that restarts with the autoscaler, so the node
        # that replaces the killed one can carry its id.)
        assert lost["env_steps"] >= 50000 and lost["pid"] != killed[2]
        assert f"trial {lost['trial_id']} resumes from" in out
        print(f"\nfake cluster: {max(nodes_seen)} nodes at most, the trial on the killed node "
              f"resumed from its checkpoint, {time.monotonic() - begin:.0f} s")
    finally:
        kill_session(session)
        record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if record.is_file() and record.read_text().strip().endswith(f":{HEAD_PORT}"):
            record.unlink()  # as `ray stop` does: no later `ray.init()` looks for this cluster
