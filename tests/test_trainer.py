"""The steppable Trainer: run in pieces, save between them, restore exactly."""

import csv

from a2c_ray import A2CConfig, Trainer, train

CFG = A2CConfig(env_id="CartPole-v1", total_env_steps=4096, eval_episodes=2,
                eval_interval_steps=1024, normalize_obs=True, normalize_reward=True, seed=5)
TIMINGS = {"env_steps_per_s", "time_total_s", "eval_time_s"}


def rows(run_dir):
    with (run_dir / "progress.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMINGS} for r in csv.DictReader(f)]


def test_run_in_pieces_saved_and_restored_equals_one_run(tmp_path):
    train(CFG, tmp_path / "whole", show_progress=False)

    with Trainer(CFG, tmp_path / "pieces", show_progress=False) as t:
        first = t.run(until_env_steps=1000)
        assert 1000 <= first["env_steps"] < 1000 + CFG.batch_size
        t.run(until_env_steps=2000)
        t.save(tmp_path / "at_2k")
        t.run()  # on to the budget
        assert t.done and t.state.env_steps == 4096
    assert rows(tmp_path / "pieces") == rows(tmp_path / "whole")

    with Trainer.restore(tmp_path / "at_2k", out_dir=tmp_path / "restored",
                         show_progress=False) as t:
        assert t.state.env_steps == 2048 and t.config == CFG
        last = t.run()
    whole, restored = rows(tmp_path / "whole"), rows(tmp_path / "restored")
    assert restored == whole[-len(restored):] and len(restored) == len(whole) // 2
    assert last["eval_return_mean"] == float(whole[-1]["eval_return_mean"])
