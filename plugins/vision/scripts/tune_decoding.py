"""Sweep guidance scale, temperature and top-p of a shipped model on the *validation* images (never the test images).

    python plugins/vision/scripts/tune_decoding.py --model digits_next_scale --guidance 1,1.25,1.5 --temperature 0.8,1 \
        --top-p 0.9,1

Prints one JSON line per setting: MLP and CNN accuracy, the Frechet distance over its floor in both feature spaces,
with the validation images standing in for the test images (the floor: as many training images against the
validation images). Sampling seeds are ``500 + --seed`` and on, never the eval's (``1000 + seed``).
``arkit_vision.evaluation.DECODING`` holds the settings chosen this way.
"""

from __future__ import annotations

import argparse
import itertools
import json

import attrs
import numpy as np
import torch

from arkit_vision.evaluation import _MODELS, Decoding, _data, _judges, _sample, frechet_floor, sample_quality
from arkit_vision.pretrained import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(_MODELS), required=True)
    parser.add_argument("--guidance", default="1,1.25,1.5,2")
    parser.add_argument("--temperature", default="1")
    parser.add_argument("--top-p", default="1", help="comma-separated nucleus sizes in (0, 1]")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="sampling seeds per setting (rows are their means)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset, checkpoint, kind = _MODELS[args.model]
    data = _data(dataset)
    data = attrs.evolve(data, test=data.valid)  # tune on the validation images
    judges = _judges(dataset, data, from_scratch=False)
    floors = {name: frechet_floor(judge, data, args.samples) for name, judge in judges.items()}
    pipe = load_model(checkpoint)
    classes = 10 if dataset == "digits" else 4
    labels = [i % classes for i in range(args.samples)]
    grid = itertools.product(*([float(x) for x in values.split(",")] for values in
                                (args.guidance, args.temperature, args.top_p)))
    for g, t, p in grid:
        decoding = Decoding(guidance_scale=g, temperature=t, top_p=p)
        rows = [sample_quality(_sample(pipe, kind, labels, decoding, seed=500 + args.seed + s).images, data, judges,
                               floors) for s in range(args.seeds)]
        print(json.dumps({"model": args.model, "guidance": g, "temperature": t, "top_p": p, "seeds": args.seeds,
                          **{k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}}), flush=True)


if __name__ == "__main__":
    main()
