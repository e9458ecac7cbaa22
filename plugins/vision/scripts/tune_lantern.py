"""Sweep LANTERN's budget ``delta`` and neighbourhood size ``k`` on tuning seeds (never the eval's).

    python plugins/vision/scripts/tune_lantern.py --delta 0.2,0.3,0.4 --neighbours 4,8 --seeds 3

The shipped shapes raster model is the target and the shipped shapes draft model drafts greedily, as in
``arkit vision eval`` (``lantern`` section). Per seed it decodes ``--images`` shapes plainly, with exact
speculative decoding (greedy draft) and with LANTERN at each setting. Sampling seeds are ``5000 + 100 * s``
(the eval's are ``2000 + seed``), so nothing here is the reported run. Each JSON line gives the target calls
per image, the call reduction against the exact method and the accuracy drop against plain decoding (MLP
judge), as seed means with their spread, and the standard error of the drop's mean.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math

import numpy as np
import torch

import arkit
from arkit_vision.evaluation import _mlp_judge
from arkit_vision.generate import sample_raster
from arkit_vision.pretrained import load_model


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delta", default="0.2,0.3,0.4")
    parser.add_argument("--neighbours", default="8")
    parser.add_argument("--draft-tokens", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=1.5)
    parser.add_argument("--images", type=int, default=100, help="images per seed and method")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    target, draft, judge = load_model("shapes-raster"), load_model("shapes-draft"), _mlp_judge("shapes")
    labels = [i % 4 for i in range(args.images)]
    seeds = [5000 + 100 * s for s in range(args.seeds)]

    def run(acceptance: str, config: dict[str, object], seed: int) -> tuple[float, float]:
        pipe = target
        if acceptance != "plain":
            pipe = target.replace(
                drafter=arkit.create("drafter", "core/draft-model", pipeline=draft, temperature=0.0, seed=seed),
                acceptance=arkit.create("acceptance", acceptance, **config))
        out = sample_raster(pipe, labels, guidance_scale=args.guidance, seed=seed, batch_size=50,
                            num_draft_tokens=args.draft_tokens, draft_schedule="constant")
        return out.model_calls, judge.accuracy(out.images)

    plain = [run("plain", {}, s) for s in seeds]
    exact = [run("core/exact", {}, s) for s in seeds]
    base = {"plain_accuracy": round(float(np.mean([a for _, a in plain])), 4),
            "exact_calls": round(float(np.mean([c for c, _ in exact])), 2),
            "exact_accuracy": round(float(np.mean([a for _, a in exact])), 4), "seeds": seeds, "images": args.images,
            "draft_tokens": args.draft_tokens}
    print(json.dumps(base), flush=True)
    for delta, k in itertools.product(_floats(args.delta), [int(x) for x in args.neighbours.split(",")]):
        config = {"neighbours": target.tokenizer.neighbours(k), "delta": delta}
        rows = [run("core/lantern", config, s) for s in seeds]
        reduction = [e[0] / r[0] for e, r in zip(exact, rows)]
        drop = [p[1] - r[1] for p, r in zip(plain, rows)]
        # two independent accuracies of `images` samples each, averaged over the seeds
        p = float(np.mean([a for _, a in plain]))
        stderr = math.sqrt(2 * p * (1 - p) / (args.images * len(seeds)))
        print(json.dumps({"draft_tokens": args.draft_tokens, "delta": delta, "neighbours": k, "calls": round(float(np.mean([c for c, _ in rows])), 2),
                          "reduction": round(float(np.mean(reduction)), 3),
                          "accuracy": round(float(np.mean([a for _, a in rows])), 4),
                          "drop": round(float(np.mean(drop)), 4), "drop_spread": round(float(np.std(drop, ddof=1)), 4)
                          if len(drop) > 1 else 0.0, "drop_stderr": round(stderr, 4)}), flush=True)


if __name__ == "__main__":
    main()
