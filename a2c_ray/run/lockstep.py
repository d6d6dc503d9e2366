"""One configuration trained on several seeds in lockstep.

A sweep's trial trains its configuration on S training seeds at once. Seed 0 runs in the
trial's own process, seeds 1..S-1 as ``SeedRunner`` Ray actors in the trial's placement
group: seed j's learner holds bundle j * (1 + K) and its K rollout actors the bundles after
it (``run.actors.trial_bundles``). ``SeedGroup.run(until)`` advances every seed to the same env
step concurrently, and the trial reports to Tune only then, so ASHA compares trials at equal
env steps per seed and an S-seed trial takes about the wall time of a one-seed trial when S
cores are free. A checkpoint of the group holds every seed's exact state.

The sweep reuses its trial actors (Tune's ``reuse_actors``): one process runs trial after
trial, and a finished trial's seed actors serve the next trial in the same placement group,
so a trial starts without a new process and torch's imports (3-4 s each).

Each seed reports its ``score``, the average of its latest ``score_evals`` deterministic
evaluations (``Trainer.score``); ``python -m a2c_ray.train --seed 0 1 2`` trains its seeds the
same way, and a sweep's trial ranks by a statistic over them (``tuning.trial.trial_metrics``).

Which seeds a trial trains on is ``a2c_ray.core.seeds``'s to say.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from a2c_ray.core import A2CConfig
from a2c_ray.core import storage as st
from a2c_ray.run.checkpoint import SEEDS, seed_checkpoints, seed_dirname
from a2c_ray.run.trainer import Trainer


class SeedRunner:
    """One seed of a trial: a Trainer the trial advances; a Ray actor for seeds 1..S-1.

    ``start`` puts it on another run, so that one actor can serve the trials its process runs
    one after another (``SeedGroup`` keeps idle ones for that).
    """

    def __init__(self, config: dict[str, Any], files: dict[str, bytes] | None,
                 placement: tuple[Any, int] | None, score_evals: int,
                 eval_at: frozenset[int] | None = None, out_dir: str | None = None,
                 show_progress: bool | None = False,
                 track: tuple[str, str, str | None] | None = None) -> None:
        self.trainer: Trainer | None = None
        self.start(config, files, placement, score_evals, eval_at, out_dir, show_progress,
                   track)

    def start(self, config: dict[str, Any], files: dict[str, bytes] | None,
              placement: tuple[Any, int] | None, score_evals: int,
              eval_at: frozenset[int] | None = None, out_dir: str | None = None,
              show_progress: bool | None = False,
              track: tuple[str, str, str | None] | None = None) -> None:
        """Begin the run of ``config``, or continue the saved one in ``files``.

        ``out_dir``: where the run writes its files, as ``train`` does (a sweep's seeds write
        none: their trial reports them); ``track``: its tracker, as ``Trainer``'s.
        """
        self.close()
        self.score_evals = score_evals
        options: dict[str, Any] = {"show_progress": show_progress, "placement": placement,
                                   "eval_at": eval_at, "out_dir": out_dir, "track": track}
        if files is None:
            self.trainer = Trainer(A2CConfig.from_dict(config), **options)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                for name, data in files.items():
                    (Path(tmp) / name).write_bytes(data)
                self.trainer = Trainer.restore(tmp, config["total_env_steps"], **options)

    @property
    def _trainer(self) -> Trainer:
        if self.trainer is None:
            raise RuntimeError("this seed runner has no run: start() it first")
        return self.trainer

    def position(self) -> tuple[int, int]:
        """Env steps and iterations done (answers once the trainer exists)."""
        return self._trainer.state.env_steps, self._trainer.state.iteration

    def run(self, until_env_steps: int) -> dict[str, float]:
        """Train up to ``until_env_steps``; the last iteration's metrics and this seed's score.

        A run restored at its budget trains no further and returns its saved metrics.
        """
        metrics = self._trainer.run(until_env_steps)
        return {**metrics, "seed": self._trainer.config.seed,
                "score": self._trainer.score(self.score_evals)}

    def summary(self) -> dict[str, Any]:
        """The run's summary, written to its out_dir as summary.json (as ``train`` does)."""
        summary = self._trainer.summary()
        if self._trainer.out_dir is not None:
            (self._trainer.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def files(self) -> dict[str, bytes]:
        """A checkpoint of this seed, as file name -> contents (it may live on another node)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = self._trainer.save(Path(tmp) / "checkpoint")
            return {p.name: p.read_bytes() for p in path.iterdir()}

    def close(self) -> None:
        """End the run and release its rollout actors; the runner can ``start`` another."""
        if self.trainer is not None:
            self.trainer.close()
            self.trainer = None


RemoteSeedRunner = ray.remote(SeedRunner)

class IdleSeedActors:
    """Seed actors whose trial has ended, kept for the next trial the same Tune actor runs.

    A sweep reuses its trial actors, and a new seed actor costs a process and torch's
    imports, 3-4 s a trial. They are kept by (placement group id, bundle index): they live in
    the trial's placement group, so they end with it when Tune gives the group back. A Tune
    actor's process has one set (``here``), which its trials hand to their ``SeedGroup``.
    """

    _here: IdleSeedActors | None = None

    def __init__(self) -> None:
        self.actors: dict[tuple[Any, int], Any] = {}

    @classmethod
    def here(cls) -> IdleSeedActors:
        """This process's idle seed actors."""
        if cls._here is None:
            cls._here = cls()
        return cls._here

    def release_others(self, group: Any) -> None:
        """End those of another placement group than ``group`` (None: all): not ours to use."""
        for key in [k for k in self.actors if group is None or k[0] != group.id]:
            ray.kill(self.actors.pop(key), no_restart=True)

    def take(self, key: tuple[Any, int] | None) -> Any:
        """The actor kept at ``key``, which leaves the set; None where there is none."""
        return None if key is None else self.actors.pop(key, None)

    def keep(self, key: tuple[Any, int], actor: Any) -> None:
        """Keep ``actor``, whose run has closed, at ``key`` for the next trial."""
        self.actors[key] = actor


def _checkpoint_files(uri: str) -> dict[str, bytes]:
    return {e.name: st.read_bytes(e.uri) for e in st.list_dir(uri) if not e.is_dir}


class SeedGroup:
    """A trial's seeds, advanced together; a context manager that releases their actors.

    Args:
        configs: one configuration per seed, equal but for the seed.
        score_evals: evaluations each seed's score averages.
        resume_from: a checkpoint this group saved, to continue exactly: of the same seeds, or
            of its first seeds (a trial that earned seeds at a rung), the others then trained
            from scratch up to the others' env step by the next ``run``.
        eval_at: the evaluations each seed makes (``Trainer``'s ``eval_at``); by default all.
        runs: for seeds trained as ``train`` runs, each seed's output directory and the
            checkpoint it continues from (None: from scratch).
        show_progress: the first seed's progress bar (by default none).
        track: the tracker every seed's run goes to (train runs; ``run.tracking``).
        idle: where seed actors wait between the trials of one Tune actor (a sweep's trial:
            ``IdleSeedActors.here()``): taken from there, and put back on ``close``; None: a
            closed group ends its actors.
    """

    def __init__(self, configs: list[A2CConfig], score_evals: int,
                 resume_from: str | None = None,
                 eval_at: frozenset[int] | None = None, *,
                 runs: list[tuple[str, str | None]] | None = None,
                 show_progress: bool | None = False,
                 track: tuple[str, str, str | None] | None = None,
                 idle: IdleSeedActors | None = None) -> None:
        self.seeds = [c.seed for c in configs]
        saved: list[dict[str, bytes] | None] = [None] * len(configs)
        if resume_from is not None:  # the first seeds, or all; a trial that earned seeds at
            uris = seed_checkpoints(resume_from)  # a rung starts the new ones from scratch
            if len(uris) > len(configs):
                raise ValueError(f"checkpoint {resume_from} holds {len(uris)} seeds, the trial "
                                 f"trains {len(configs)}")
            saved[:len(uris)] = [_checkpoint_files(u) for u in uris]
        # train runs: each seed in its own directory, continued from its own checkpoint
        out_dirs = [None] * len(configs) if runs is None else [d for d, _ in runs]
        for j, (_, checkpoint) in enumerate(runs or []):
            if checkpoint is not None:
                saved[j] = _checkpoint_files(checkpoint)
        per_seed = 1 + configs[0].num_rollout_workers  # bundles
        group = ray.util.get_current_placement_group() if ray.is_initialized() else None
        self.idle = idle
        if idle is not None:
            idle.release_others(group)
        self.remote: list[Any] = []
        self._keys: list[tuple[Any, int] | None] = []
        try:
            for j in range(1, len(configs)):
                bundle = j * per_seed
                # A seed the group has no bundles for yet: a trial that earned it at a rung
                # and was killed before Tune saved its larger group. It runs beside the others
                # until the scheduler gives the trial its group again, at its next report.
                inside = group is not None and bundle + per_seed <= group.bundle_count
                args = (configs[j].to_dict(), saved[j], (group, bundle) if inside else None,
                        score_evals, eval_at, out_dirs[j], False, track)
                key = (group.id, bundle) if inside else None
                actor = idle.take(key) if idle is not None else None
                if actor is not None:
                    actor.start.remote(*args)  # an actor runs its calls in order
                else:
                    options: dict[str, Any] = {"num_cpus": 1 if inside or group is None else 0,
                                               "max_restarts": 0}
                    if inside:
                        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                            group, placement_group_bundle_index=bundle)
                    actor = RemoteSeedRunner.options(**options).remote(*args)
                self.remote.append(actor)
                self._keys.append(key)
            self.local = SeedRunner(configs[0].to_dict(), saved[0], None, score_evals, eval_at,
                                    out_dirs[0], show_progress, track)
            positions = [self.local.position(),
                         *ray.get([r.position.remote() for r in self.remote])]
        except BaseException:  # a seed that cannot start fails the trial here
            self.close()
            raise
        restored = {p for p, files in zip(positions, saved, strict=True) if files is not None}
        new = {p for p, files in zip(positions, saved, strict=True) if files is None}
        if runs is None and (len(restored) > 1 or (restored and new - {(0, 0)})):
            self.close()
            raise ValueError(f"checkpoint {resume_from} holds seeds at different steps: "
                             f"{sorted(restored)}")
        self.config = configs[0]
        # where the trial is; seeds it earned since start at 0 and catch up in the next run()
        # (train runs, each continued from its own checkpoint, may stand apart until then)
        self.env_steps, self.iteration = positions[0]

    @property
    def done(self) -> bool:
        """Whether every seed has used the budget."""
        return self.env_steps >= self.config.total_env_steps

    def run(self, until_env_steps: int) -> list[dict[str, float]]:
        """Advance every seed to ``until_env_steps`` at once; each seed's metrics, in order."""
        pending = [r.run.remote(until_env_steps) for r in self.remote]
        first = self.local.run(until_env_steps)
        per_seed = [first, *ray.get(pending)]
        steps = {int(m["env_steps"]) for m in per_seed}
        if len(steps) != 1:  # equal configs take equal steps per iteration
            raise RuntimeError(f"seeds out of lockstep: env steps {sorted(steps)}")
        self.env_steps = steps.pop()
        self.iteration = int(first["iteration"])
        return per_seed

    def summaries(self) -> list[dict[str, Any]]:
        """Every seed's run summary, in order (each written to its out_dir, if it has one)."""
        return [self.local.summary(), *ray.get([r.summary.remote() for r in self.remote])]

    def save(self, path: Path) -> Path:
        """Write every seed's checkpoint under ``path`` (one seed: ``path`` is its checkpoint)."""
        files = [self.local.files(), *ray.get([r.files.remote() for r in self.remote])]
        path.mkdir(parents=True, exist_ok=True)
        if len(files) == 1:
            dirs = [path]
        else:
            dirs = [path / seed_dirname(s) for s in self.seeds]
        for directory, contents in zip(dirs, files, strict=True):
            directory.mkdir(exist_ok=True)
            for name, data in contents.items():
                (directory / name).write_bytes(data)
        if len(files) > 1:
            (path / SEEDS).write_text(json.dumps(self.seeds))  # last: the group is whole
        return path

    def close(self) -> None:
        """End every seed's run; seed actors that answer are kept for the next trial."""
        for key, r in zip(self._keys, self.remote, strict=True):
            try:
                ray.get(r.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001  (a dead or stuck actor is not kept)
                ray.kill(r, no_restart=True)
                continue
            if key is not None and self.idle is not None:
                self.idle.keep(key, r)
            else:
                ray.kill(r, no_restart=True)
        self.remote, self._keys = [], []
        if getattr(self, "local", None) is not None:
            self.local.close()
            self.local = None

    def __enter__(self) -> SeedGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
