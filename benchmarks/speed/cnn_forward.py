"""The NatureCNN's forward pass on CPU, as a rollout actor runs it: torch against numpy.

    python -m benchmarks.speed.cnn_forward

A rollout actor computes the policy once per env step for its envs' batch. For the MLPs a
numpy mirror of the actor beats torch several times at these batch sizes
(``a2c_ray.model.NumpyActor``); this measures whether the same holds for the CNN that reads
Atari frames ([N, 4, 84, 84] uint8). numpy's convolution is the usual one: the input's
sliding windows (``sliding_window_view``) contracted with the kernels (``tensordot``, BLAS).
Both run on one thread (torch.set_num_threads(1), OMP/OpenBLAS threads 1), alternating, the
median of ``--repeats`` timings each; the two outputs are checked equal first.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from a2c_ray.model.network import NatureCNN  # noqa: E402


def numpy_forward(cnn: NatureCNN, pixels: np.ndarray) -> np.ndarray:
    """The CNN's features [N, 512] for pixels [N, C, H, W] (uint8), in numpy."""
    x = pixels.astype(np.float32) / 255.0
    for conv in (m for m in cnn.convs if isinstance(m, torch.nn.Conv2d)):
        w = conv.weight.detach().numpy()  # [out, in, k, k]
        b = conv.bias.detach().numpy()
        k, s = conv.kernel_size[0], conv.stride[0]
        windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        windows = windows[:, :, ::s, ::s]  # [N, in, H', W', k, k]
        out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))  # [N, H', W', out]
        x = np.maximum(out + b, 0.0).transpose(0, 3, 1, 2)
    linear = cnn.linear[0]
    flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
    return np.maximum(flat @ linear.weight.detach().numpy().T + linear.bias.detach().numpy(), 0)


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--repeats", type=int, default=30)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cnn = NatureCNN((4, 84, 84)).requires_grad_(False)
    print("| batch | torch (ms) | numpy (ms) | numpy / torch |")
    print("| ---: | ---: | ---: | ---: |")
    for n in a.batches:
        pixels = np.random.default_rng(n).integers(0, 256, (n, 4, 84, 84), dtype=np.uint8)
        ours = numpy_forward(cnn, pixels)
        with torch.no_grad():
            theirs = cnn(torch.from_numpy(pixels)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
        times: dict[str, list[float]] = {"torch": [], "numpy": []}
        for _ in range(a.repeats):
            start = time.perf_counter()
            with torch.no_grad():
                cnn(torch.from_numpy(pixels))
            times["torch"].append(time.perf_counter() - start)
            start = time.perf_counter()
            numpy_forward(cnn, pixels)
            times["numpy"].append(time.perf_counter() - start)
        t, q = (1e3 * float(np.median(times[k])) for k in ("torch", "numpy"))
        print(f"| {n} | {t:.2f} | {q:.2f} | {q / t:.1f} |")


if __name__ == "__main__":
    main()
