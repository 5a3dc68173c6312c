"""Same curve shapes as bench/lib/data.ts (loss-like decays, saturating accuracies, noisy grad
norms, perplexities) with Python's PRNG: same distribution, not bit-identical values."""
import math
import random

T0 = 1736121600000  # 2025-01-06T00:00:00Z, as in data.ts
STEP_MS = 100
KINDS = ("loss", "acc", "grad_norm", "perplexity")
SPLITS = ("train", "val")


def metric_name(i):
    kind = KINDS[i % len(KINDS)]
    split = SPLITS[(i // len(KINDS)) % len(SPLITS)]
    group = i // (len(KINDS) * len(SPLITS))
    return f"{split}/{kind}" if group == 0 else f"{split}/layer_{group:02d}/{kind}"


def metric_names(n):
    return [metric_name(i) for i in range(n)]


class Curve:
    def __init__(self, seed, metric_index, total_steps):
        self.rnd = random.Random(seed * 1_000_003 + metric_index * 7919 + 1)
        self.kind = KINDS[metric_index % len(KINDS)]
        self.a = 1 + self.rnd.random() * 3
        self.tau = max(10, total_steps * (0.05 + self.rnd.random() * 0.3))
        self.floor = 0.05 + self.rnd.random() * 0.3
        self.noise = 0.01 + self.rnd.random() * 0.05

    def value(self, step):
        r = self.rnd
        decay = math.exp(-step / self.tau)
        eps = r.gauss(0, 1) * self.noise
        spike = r.random() * 5 if r.random() < 0.001 else 0
        if self.kind == "loss":
            return (self.floor + self.a * decay) * (1 + eps) + spike
        if self.kind == "acc":
            return min(1.0, max(0.0, (1 - self.floor) * (1 - decay) + eps * 0.2))
        if self.kind == "grad_norm":
            return self.a * (0.2 + decay) * math.exp(eps * 4) + spike
        return math.exp(self.floor + self.a * decay) * (1 + eps)
