import math

import torch

from a2c_ray.learning.optim import RMSpropTF, make_optimizer


def run(opt_cls, grads, **kw):
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        opt.zero_grad()
        (torch.tensor(g, dtype=torch.float64) * p).sum().backward()  # d/dp = g
        opt.step()
        out.append(p.detach().clone().tolist())
    return out


GRADS = [[0.5, 1.0], [-1.0, 0.25]]


def test_rmsprop_tf_hand_computed():
    lr, alpha, eps = 0.1, 0.9, 1e-5
    # step 1: v starts at ONES, eps inside the root
    v1 = [0.9 * 1 + 0.1 * 0.5**2, 0.9 * 1 + 0.1 * 1.0**2]  # [0.925, 1.0]
    p1 = [1.0 - lr * 0.5 / math.sqrt(v1[0] + eps), -2.0 - lr * 1.0 / math.sqrt(v1[1] + eps)]
    v2 = [0.9 * v1[0] + 0.1 * 1.0, 0.9 * v1[1] + 0.1 * 0.0625]
    p2 = [p1[0] + lr * 1.0 / math.sqrt(v2[0] + eps), p1[1] - lr * 0.25 / math.sqrt(v2[1] + eps)]
    got = run(RMSpropTF, GRADS, lr=lr, alpha=alpha, eps=eps)
    for row, exp in zip(got, [p1, p2], strict=True):
        for a, b in zip(row, exp, strict=True):
            assert abs(a - b) < 1e-12
    # it really differs from PyTorch's RMSprop (zeros init, eps outside the root)
    torch_rms = run(torch.optim.RMSprop, GRADS, lr=lr, alpha=alpha, eps=eps)
    assert abs(torch_rms[0][0] - p1[0]) > 1e-2


def test_rmsprop_tf_momentum_hand_computed():
    lr, alpha, eps, mom = 0.1, 0.9, 1e-5, 0.5
    v1 = 0.9 + 0.1 * 0.25
    m1 = lr * 0.5 / math.sqrt(v1 + eps)
    v2 = 0.9 * v1 + 0.1 * 1.0
    m2 = mom * m1 + lr * -1.0 / math.sqrt(v2 + eps)
    got = run(RMSpropTF, GRADS, lr=lr, alpha=alpha, eps=eps, momentum=mom)
    assert abs(got[0][0] - (1.0 - m1)) < 1e-12
    assert abs(got[1][0] - (1.0 - m1 - m2)) < 1e-12


def test_adam_hand_computed():
    lr, eps, b1, b2 = 0.1, 1e-5, 0.9, 0.999
    m = v = [0.0, 0.0]
    want, p = [], [1.0, -2.0]
    for t, g in enumerate(GRADS, start=1):
        m = [b1 * a + (1 - b1) * x for a, x in zip(m, g, strict=True)]
        v = [b2 * a + (1 - b2) * x * x for a, x in zip(v, g, strict=True)]
        p = [q - lr * (a / (1 - b1**t)) / (math.sqrt(c / (1 - b2**t)) + eps)
             for q, a, c in zip(p, m, v, strict=True)]
        want.append(p)

    def adam(params, **kw):
        return make_optimizer("adam", params, kw["lr"], kw["eps"], alpha=0.99)

    got = run(adam, GRADS, lr=lr, eps=eps)
    for row, exp in zip(got, want, strict=True):
        for a, b in zip(row, exp, strict=True):
            assert abs(a - b) < 1e-12
