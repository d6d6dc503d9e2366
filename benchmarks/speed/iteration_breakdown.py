"""Where one synchronous iteration's time goes with K Ray rollout actors on HalfCheetah-v5.

    python -m benchmarks.speed.iteration_breakdown --workers 2 --iterations 200

collect: waiting for every actor's rollout (started at the previous submit);
update: the learner's A2C update, during which the actors have nothing to do;
submit: one ray.put of the new weights and one sample call per actor.
"""

from __future__ import annotations

import argparse
import time

import ray
import torch

from a2c_ray import A2CConfig
from a2c_ray.core.batch import Batch
from a2c_ray.learning.learner import Learner
from a2c_ray.run.actors import RaySampler
from a2c_ray.sampling.envs import env_spaces


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=8)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--value-grad-steps", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = A2CConfig(env_id="HalfCheetah-v5", envs_per_worker=args.envs_per_worker,
                    rollout_length=32, num_rollout_workers=args.workers,
                    value_grad_steps=args.value_grad_steps)
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False,
             log_to_driver=False)
    sampler, learner = RaySampler(cfg), Learner(cfg, *env_spaces(cfg.env_id))
    sampler.submit(learner.broadcast())
    Batch.concat(sampler.collect())  # warm-up
    sampler.submit(learner.broadcast())
    t_collect = t_update = t_submit = 0.0
    start = time.perf_counter()
    for _ in range(args.iterations):
        a = time.perf_counter()
        batch = Batch.concat(sampler.collect())
        b = time.perf_counter()
        learner.update(batch)
        c = time.perf_counter()
        sampler.submit(learner.broadcast())
        d = time.perf_counter()
        t_collect, t_update, t_submit = t_collect + b - a, t_update + c - b, t_submit + d - c
    total = time.perf_counter() - start
    n = args.iterations
    print(f"K={args.workers}: {n * cfg.batch_size / total:.0f} env steps/s; per iteration "
          f"{total / n * 1e3:.2f} ms = collect {t_collect / n * 1e3:.2f} + update "
          f"{t_update / n * 1e3:.2f} + submit {t_submit / n * 1e3:.2f} ms")
    sampler.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
