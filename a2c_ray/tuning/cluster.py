"""How large the Ray cluster can grow, which sets the concurrency.

An autoscaling cluster adds nodes only for work that waits, so a sweep that sized itself by
the CPUs up now would never grow it. Ray 2.60's autoscaler does not report its limits to the
GCS (``ray._private.state``'s ``get_max_resources_from_cluster_config`` answers only where an
autoscaler does, as on KubeRay), but the head node knows them: its autoscaler process runs with
``--autoscaling-config=FILE``, the cluster launcher's YAML. Reading that process's command line
(Linux /proc) works where the sweep's driver runs on the head, as ``ray job submit`` and the
README's commands run it; elsewhere the answer is "not known". Both private paths are tried in
``max_cpus`` only; tests/test_cluster.py fails if neither answers on the fake autoscaling
cluster.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml


def max_cpus() -> tuple[int, str] | None:
    """(the most CPUs this cluster can grow to, where that figure comes from), or None.

    None on a cluster without an autoscaler, or one whose limits this node cannot see.
    Ray must be initialised.
    """
    from ray._private import state

    try:
        limits = state.state.get_max_resources_from_cluster_config() or {}
    except Exception:  # noqa: BLE001 - a private API: any failure means "not reported"
        limits = {}
    cpus = int(limits.get("CPU", 0))
    if 0 < cpus < 2**31:
        return cpus, "the cluster config the autoscaler reported"
    path = autoscaler_config_file()
    if path is None or not path.is_file():
        return None
    cpus = yaml_max_cpus(yaml.safe_load(path.read_text()))
    return None if cpus is None else (cpus, f"the autoscaler's {path}")


def autoscaler_config_file() -> Path | None:
    """The YAML this cluster's autoscaler runs with, if its process runs on this node."""
    import ray

    gcs = ray.get_runtime_context().gcs_address
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not any(a.endswith("autoscaler/_private/monitor.py") for a in args):
            continue
        if f"--gcs-address={gcs}" not in args:
            continue  # another cluster's autoscaler on the same machine
        for arg in args:
            if arg.startswith("--autoscaling-config="):
                path = Path(arg.split("=", 1)[1]).expanduser()
                try:
                    return path if path.is_absolute() else Path(os.readlink(proc / "cwd")) / path
                except OSError:
                    return None
    return None


def yaml_max_cpus(config: dict[str, Any]) -> int | None:
    """The most CPUs a cluster launcher config allows: the head's and every worker it may add.

    Worker node types are filled largest first, each up to its own ``max_workers`` and all of
    them together up to the top-level ``max_workers``. None where a node type that may be
    added does not declare its CPUs (``resources: {"CPU": n}``), since then only the cloud
    knows them.
    """
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    total = int((types.get(head, {}).get("resources") or {}).get("CPU", 0))
    workers = []
    for name, spec in types.items():
        count = int(spec.get("max_workers", 0)) if name != head else 0
        if count <= 0:
            continue
        cpus = (spec.get("resources") or {}).get("CPU")
        if cpus is None:
            return None
        workers.append((int(cpus), count))
    left = config.get("max_workers", math.inf)
    for cpus, count in sorted(workers, reverse=True):
        n = min(count, left)
        total += cpus * n
        left -= n
    return total or None
