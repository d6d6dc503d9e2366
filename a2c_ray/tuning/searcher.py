"""Ray Tune's searcher over an Optuna study that is told the truth.

Ray's ``OptunaSearch`` reports intermediate values at Tune's iteration count and closes a
trial that ASHA stopped as COMPLETE with its low-budget value, so TPE models a 100k-step
result as if it were a full-budget one. ``StudySearcher`` drives the study with Optuna's
public ask-and-tell API instead:

* every report with a finite ``score`` is an intermediate value at the trial's env step;
* a trial that ran its full budget is COMPLETE with its final score, one ASHA stopped is
  PRUNED at the step it reached (TPE ranks pruned trials by how far they got, then by their
  last value), and one that ended without a score is FAIL; an errored one stays RUNNING
  until the sweep ends, since ``--resume`` runs it again (``on_trial_complete``);
* each suggestion carries the trial's training seeds (``core.seeds.train_seeds``), numbered by
  the Optuna trial, so no two trials share a seed and a resumed sweep keeps them;
* a sampled configuration that repeats an earlier trial's exactly is drawn again. A sampler
  seeded as an earlier sweep's draws that sweep's configurations in the same order, and a
  preset that was one of them comes back: Walker2d-v5's sweep, started from a preset that a
  seed-0 draw had found, trained it twice. The repeat is told FAIL with ``duplicate_of``.

It also keeps Tune's limit on trials at once (``set_max_concurrency``) instead of Tune's
``ConcurrencyLimiter``, and counts a trial as running only while its Optuna trial is. A driver
killed between saving the searcher and saving the experiment leaves a saved limiter holding a
trial the experiment has finished and missing one it runs: resumed, it never suggests again
and the sweep waits forever, and the missing trial is never told. Here the study, written at
once on every tell, corrects the count after a restore, and a trial the restored searcher does
not know is found in the study by its training seeds.

It is written on the public APIs of both libraries (``ray.tune.search.Searcher``,
``optuna.Study.ask``/``tell``/``enqueue_trial``, ``optuna.Trial.report``) because the fix
would otherwise patch private state of ``OptunaSearch`` (its trial map and its ``tell``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle
from typing import Any

import optuna
from ray.tune.search import Searcher, SearchGenerator

from a2c_ray.core import saved_trials, train_seeds
from a2c_ray.tuning.study import Phase, TrialRecord, seeds_reporting, training_seeds


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


_REDRAWS = 5  # draws of a new configuration before a repeat is kept


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A configuration as a hashable key; equal only where every value is the same."""
    return tuple(sorted(params.items()))


def _points(dist: optuna.distributions.BaseDistribution) -> float:
    """How many values a distribution can take (infinity for a float range)."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return len(dist.choices)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return (dist.high - dist.low) // dist.step + 1
    if isinstance(dist, optuna.distributions.FloatDistribution):
        if dist.low == dist.high:
            return 1
        return math.inf if dist.step is None else round((dist.high - dist.low) / dist.step) + 1
    return math.inf


_log = logging.getLogger("a2c_ray")
_RESTORE_AT: list[str] = []  # the study searchers restored in this process open


def restore_study_at(url: str) -> None:
    """Searchers restored in this process open the study at ``url``, not the saved URL.

    A resumed sweep passes the URL in its ``sweep.json``: a sweep directory that was moved
    keeps its study inside it (``core.storage.moved_study``), while the experiment state Tune
    restores the searcher from still names the old path.
    """
    _RESTORE_AT[:] = [url]


class StudySearcher(Searcher):
    """Suggests configurations from an Optuna study and tells it how each trial ended.

    Args:
        space: Optuna distributions by A2CConfig field.
        storage: Optuna RDB storage URL; the study is created there, or loaded if it exists.
        study_name: the study's name (the sweep's).
        sampler: the Optuna sampler.
        metric: the result key to optimise; ``mode`` is "max" or "min".
        max_steps: a trial's full budget in env steps per seed.
        sweep_seed: the sweep's --seed.
        seeds_per_trial: training seeds per trial.
        points_to_evaluate: configurations the first trials take, in order (enqueued once,
            when the study is created).
        prune_stopped: tell Optuna a trial ASHA stopped is PRUNED (the truth); False tells it
            what Ray's OptunaSearch does, COMPLETE with its last value (for comparison).
        budget: env steps the trials may train in all, over their seeds: once they have, no
            trial starts (``suggest`` says the search is finished); None: no limit.
    """

    def __init__(self, space: dict[str, optuna.distributions.BaseDistribution], storage: str,
                 study_name: str, sampler: optuna.samplers.BaseSampler, metric: str,
                 mode: str, max_steps: int, sweep_seed: int, seeds_per_trial: int,
                 points_to_evaluate: list[dict[str, Any]] | None = None,
                 prune_stopped: bool = True, budget: int | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space, self.storage, self.study_name = space, storage, study_name
        self.sampler = sampler
        self.max_steps, self.sweep_seed = max_steps, sweep_seed
        self.seeds_per_trial, self.prune_stopped = seeds_per_trial, prune_stopped
        self.points = list(points_to_evaluate or [])
        self.budget = budget
        self._study: optuna.Study | None = None
        self._trials: dict[str, TrialRecord] = {}  # by Tune's trial id
        self.max_concurrent = 0  # 0: no limit
        self._recount = False  # after a restore: check the running trials against the study

    @property
    def study(self) -> optuna.Study:
        """The Optuna study, opened on first use (and again after a restore)."""
        if self._study is None:
            self._study = optuna.create_study(
                storage=self.storage, study_name=self.study_name, sampler=self.sampler,
                direction="maximize" if self.mode == "max" else "minimize",
                load_if_exists=True)
            if not self._study.trials:
                for point in self.points:
                    self._study.enqueue_trial(point)
        return self._study

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Keep Tune's limit on trials at once here (see the module's docstring)."""
        self.max_concurrent = max_concurrent
        return True

    def _trial(self, trial_id: str) -> optuna.Trial:
        """The Optuna trial of a Tune trial; a restored searcher holds only its Optuna id."""
        record = self._trials[trial_id]
        if isinstance(record.optuna, int):  # saved as Optuna's trial id (see __getstate__)
            record.optuna = optuna.Trial(self.study, record.optuna)
        return record.optuna

    def _phase(self, trial_id: str) -> Phase | None:
        """The trial's phase; None for a trial this searcher does not know."""
        record = self._trials.get(trial_id)
        return None if record is None else record.phase

    def _running(self) -> list[str]:
        running = [t for t, r in self._trials.items() if r.phase is Phase.RUNNING]
        if self._recount and running:
            alive = {t.number for t in self.study.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
            for t in running:
                if self._trial(t).number not in alive:
                    self._trials[t].phase = Phase.ENDED
            running = [t for t in running if self._trials[t].phase is Phase.RUNNING]
        self._recount = False
        return running

    def _adopt(self, trial_id: str, result: dict[str, Any]) -> None:
        """Map a trial the restored searcher does not know to its Optuna trial, by its seeds.

        ``FrozenTrial._trial_id`` is private; tests/test_lockstep.py's restore test fails if
        it goes.
        """
        seeds = training_seeds(result)
        for t in self.study.get_trials(deepcopy=False,
                                       states=(optuna.trial.TrialState.RUNNING,)):
            if train_seeds(self.sweep_seed, t.number, self.seeds_per_trial) == seeds:
                self._trials[trial_id] = TrialRecord(optuna.Trial(self.study, t._trial_id))
                return

    @property
    def trained(self) -> int:
        """The env steps every trial has trained, over its seeds, as far as reported."""
        return sum(r.trained for r in self._trials.values())

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        """The next configuration, with the trial's training seeds under ``seeds``.

        None while ``max_concurrent`` trials run; ``Searcher.FINISHED`` once the trials have
        trained the budget.
        """
        if (trial_id not in self._trials and self.budget is not None
                and self.trained >= self.budget):
            return Searcher.FINISHED
        if trial_id not in self._trials and 0 < self.max_concurrent <= len(self._running()):
            return None
        if trial_id not in self._trials:
            self._trials[trial_id] = TrialRecord(self._ask_new())
        trial = self._trial(trial_id)
        return {**trial.params,
                "seeds": train_seeds(self.sweep_seed, trial.number, self.seeds_per_trial)}

    def _ask_new(self) -> optuna.Trial:
        """The next trial; a sampled one that repeats an earlier configuration is drawn again.

        Each repeat is told FAIL (which samplers ignore) with the user attribute
        ``duplicate_of`` (the earlier trial's number), up to ``_REDRAWS`` times; the next draw
        is then kept, repeat or not, as it is in a space with fewer than ``_REDRAWS`` points
        more than the study has tried. An enqueued start point is never drawn again.
        """
        study = self.study
        trials = study.get_trials(deepcopy=False)
        if any(t.state == optuna.trial.TrialState.WAITING for t in trials):
            return study.ask(self.space)  # an enqueued start point comes first
        seen = {_key(t.params): t.number for t in trials if t.params}
        room = math.prod(_points(d) for d in self.space.values()) - len(seen)
        for _ in range(_REDRAWS if room >= _REDRAWS else 0):
            trial = study.ask(self.space)
            twin = seen.get(_key(trial.params))
            if twin is None:
                return trial
            trial.set_user_attr("duplicate_of", twin)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return study.ask(self.space)

    def _back(self, trial_id: str) -> None:
        """A held trial that Tune runs again is running again."""
        if self._phase(trial_id) is Phase.HELD:
            self._trials[trial_id].phase = Phase.RUNNING

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Each report with a score is an intermediate value at the trial's env step."""
        self._back(trial_id)
        value, step = result.get(self.metric), result.get("env_steps")
        if trial_id not in self._trials:
            self._adopt(trial_id, result)
        if trial_id in self._trials and _finite(step):  # what it trained, evaluated or not
            record = self._trials[trial_id]
            record.trained = max(record.trained, int(step) * seeds_reporting(result))
        if self._phase(trial_id) is not Phase.RUNNING or not _finite(value):
            return
        record, step = self._trials[trial_id], int(step or 0)
        if step <= record.reported:
            return  # a resumed trial repeats the reports after its last checkpoint
        self._trial(trial_id).report(float(value), step)
        record.reported = step

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        """COMPLETE at the full budget, PRUNED when stopped early, FAIL with no score.

        An error, or a trial Tune ends before it reported (one pending when the sweep
        stopped), has no outcome yet: ``--resume`` runs errored and unfinished trials again
        (``resume_errored``), and an Optuna trial once told FAIL cannot take the results its
        rerun reports. Its Optuna trial stays RUNNING (user attribute ``errored``) and the
        searcher holds it as ended until Tune runs it again; the sweep's end tells those left
        FAIL (``close_orphans``).
        """
        result = result or {}
        self._back(trial_id)
        if trial_id not in self._trials:
            self._adopt(trial_id, result)
        if self._phase(trial_id) is not Phase.RUNNING:
            return
        if not error:  # a trial ASHA stops hands its last result here, not to on_trial_result
            self.on_trial_result(trial_id, result)
        record = self._trials[trial_id]
        record.phase = Phase.ENDED
        if error or "env_steps" not in result:
            record.phase = Phase.HELD
            if error:
                self._trial(trial_id).set_user_attr("errored", True)
            return
        value, steps = result.get(self.metric), result.get("env_steps") or 0
        state, values = optuna.trial.TrialState.FAIL, None
        if not error and _finite(value):
            if steps >= self.max_steps or not self.prune_stopped:
                state, values = optuna.trial.TrialState.COMPLETE, float(value)
            else:
                state = optuna.trial.TrialState.PRUNED
        self.study.tell(self._trial(trial_id), values, state=state, skip_if_finished=True)

    def reconcile(self, saved_seeds: list[list[int]]) -> None:
        """After a restore: the study's running trials that Tune's saved experiment lacks.

        ``saved_seeds`` are the training seeds of every trial the experiment holds. A running
        Optuna trial whose seeds none of them has was asked for a trial Tune never saved: it
        is told FAIL with ``lost_at_restore`` and its configuration enqueued, so the trial
        Tune makes in its place trains it (on the seeds of its own Optuna trial).
        """
        held = {tuple(s) for s in saved_seeds}
        for t in self.study.get_trials(deepcopy=False,
                                       states=(optuna.trial.TrialState.RUNNING,)):
            if tuple(train_seeds(self.sweep_seed, t.number, self.seeds_per_trial)) in held:
                continue
            self.study.enqueue_trial(t.params)
            lost = optuna.Trial(self.study, t._trial_id)
            lost.set_user_attr("lost_at_restore", True)
            self.study.tell(lost, state=optuna.trial.TrialState.FAIL)
            for record in self._trials.values():
                if record.optuna_id == t._trial_id:
                    record.phase = Phase.ENDED

    def save(self, checkpoint_path: str) -> None:
        """Tune saves the searcher with the experiment; the study itself is in its storage."""
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Inverse of save; the study is the one ``restore_study_at`` names, if any."""
        with open(checkpoint_path, "rb") as f:
            self.__setstate__(pickle.load(f))
        self.storage = next(iter(_RESTORE_AT), self.storage)

    def __getstate__(self) -> dict[str, Any]:
        """The state without live Optuna objects, whose storage is opened as they unpickle.

        Trials are saved as their Optuna ids, so a moved sweep restores without its old path.
        """
        state = {k: v for k, v in self.__dict__.items() if k != "_study"}
        state["_trials"] = {k: dataclasses.replace(r, optuna=r.optuna_id)
                            for k, r in self._trials.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.max_concurrent = 0  # a searcher saved before these existed
        self.budget = None
        state = dict(state)
        if "_ended" in state:  # saved by an earlier version: four collections by trial id
            state["_trials"] = _records(state)
        self.__dict__.update(state)
        # a resumed sweep runs its held trials again; those whose Optuna trials ended since
        # are ended again by the recount (``_running``)
        for record in self._trials.values():
            if record.phase is Phase.HELD:
                record.phase = Phase.RUNNING
        self._study = None
        self._recount = True


def _records(state: dict[str, Any]) -> dict[str, TrialRecord]:
    """The trial records of a searcher saved by an earlier version; ``state`` loses its keys.

    That version kept its trials in four collections by Tune's trial id: their Optuna trials
    (Optuna ids, or, saved before that, ``optuna.Trial`` objects, which unpickle only where
    their study still is), the env step of each one's last report, the ended ones, and the
    held ones among those.
    """
    trials, reported = state.pop("_trials"), state.pop("_reported", {})
    ended, held = state.pop("_ended"), state.pop("_held", set())
    return {k: TrialRecord(t if isinstance(t, int) else t._trial_id, reported.get(k, -1),
                           Phase.HELD if k in held else Phase.ENDED if k in ended
                           else Phase.RUNNING)
            for k, t in trials.items()}


class SweepSearch(SearchGenerator):
    """Tune's SearchGenerator over a ``StudySearcher``, whose count holds after any kill.

    Tune saves three files at each of its checkpoints: the experiment (its trials), the
    generator (how many trials it has made) and the searcher, and a driver killed between
    them, or while uploading them to S3, leaves them from different moments. Resumed, a
    generator older than the experiment makes trials the experiment already has, and the
    sweep runs more than ``--num-samples``; one newer than it counts a trial the experiment
    never saved, and the sweep ends with fewer. After a restore the count is the
    experiment's, and a trial the study holds but the experiment lost is told FAIL (the user
    attribute ``lost_at_restore``) and its configuration asked again (``StudySearcher.
    reconcile``), so the study and Tune hold the same trials.
    """

    def restore_from_dir(self, dirpath: str) -> None:
        """Tune's restore, then the generator's count and the study set to the experiment's."""
        super().restore_from_dir(dirpath)
        trials = saved_trials(dirpath)
        if trials is None:
            return
        if self._counter != len(trials):
            _log.warning("the saved search counted %d trials and the saved experiment holds "
                         "%d (a driver stopped between saving them): counting %d",
                         self._counter, len(trials), len(trials))
            self._counter = len(trials)
        base = self.searcher
        while hasattr(base, "searcher"):  # Tune's ConcurrencyLimiter around the study's
            base = base.searcher
        base.reconcile([t.config.get("seeds") or [] for t in trials])
