import os
import pickle  # noqa: F401 - the malicious payload below is built for pickle
from pathlib import Path

import pytest
import torch

from a2c_ray import A2CConfig, train
from a2c_ray.run.checkpoint import FILES, CheckpointError, CheckpointStore, load_checkpoint, resolve
from tests.resume import assert_resumes_exactly


@pytest.mark.parametrize("env_id,extra", [
    ("CartPole-v1", {}),
    ("HalfCheetah-v5", {}),
    # gSDE's matrices drawn at step 50 live on across the checkpoint at step 80 (5 x 16)
    ("HalfCheetah-v5", {"use_sde": True, "sde_sample_freq": 50}),
    ("CartPole-v1", {"epochs_per_rollout": 3, "minibatch_size": 16}),  # the shuffle's state
], ids=["CartPole-v1", "HalfCheetah-v5", "gsde", "minibatches"])
def test_resume_continues_exactly(tmp_path, env_id, extra):
    k, batch = 5, 4 * 16
    cfg = A2CConfig(env_id=env_id, envs_per_worker=4, rollout_length=16, eval_episodes=2,
                    eval_interval_steps=0, lr_schedule="constant", normalize_obs=True,
                    normalize_reward=True, total_env_steps=(k + 1) * batch, **extra)
    split = assert_resumes_exactly(cfg, tmp_path, k)
    assert [r["iteration"] for r in split] == [str(i) for i in range(1, k + 2)]


def test_checkpoint_holds_everything(tmp_path):
    cfg = A2CConfig(total_env_steps=512, eval_episodes=2, normalize_obs=True)
    train(cfg, tmp_path, show_progress=False)
    config, learner, state = load_checkpoint(tmp_path / "checkpoint")
    assert config == cfg
    assert set(learner) >= {"model", "optimizer", "obs_rms", "ret_rms", "version"}
    assert learner["obs_rms"]["count"] == 512
    assert state["env_steps"] == 512 and state["iteration"] == 2
    assert len(state["workers"]) == 1 and "rng" in state["workers"][0]


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARKER']}",))


def test_loading_never_unpickles_code(tmp_path, monkeypatch):
    cfg = A2CConfig(total_env_steps=256, eval_episodes=1)
    train(cfg, tmp_path, show_progress=False)
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    torch.save({"model": Evil(), "optimizer": {}}, Path(resolve(tmp_path)) / "learner.pt")
    with pytest.raises(CheckpointError, match="learner.pt is damaged") as err:
        load_checkpoint(tmp_path / "checkpoint")
    assert isinstance(err.value.__cause__, pickle.UnpicklingError)
    assert not marker.exists()


def write_fake(path: Path, files=FILES) -> None:
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("x")


def test_store_names_its_newest_complete_checkpoint(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoint", keep=2)
    for iteration in (10, 20, 30):
        store.save(iteration, write_fake)
    kept = sorted(p.name for p in (tmp_path / "checkpoint").iterdir())
    assert kept == ["000000020", "000000030", "latest"]  # the newest two, and the pointer
    assert resolve(tmp_path) == str(tmp_path / "checkpoint" / "000000030")
    # killed while writing checkpoint 40, before naming it: 30 is still the one
    write_fake(tmp_path / "checkpoint" / "000000040", FILES[:2])
    assert store.latest() == str(tmp_path / "checkpoint" / "000000030")
    # the pointer lost, or naming a checkpoint that is gone: the newest complete one
    (tmp_path / "checkpoint" / "latest").unlink()
    assert store.latest() == str(tmp_path / "checkpoint" / "000000030")
    (tmp_path / "checkpoint" / "latest").write_text("000000099")
    assert store.latest() == str(tmp_path / "checkpoint" / "000000030")
    assert CheckpointStore(tmp_path / "nothing").latest() is None
