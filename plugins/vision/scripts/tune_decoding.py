"""Sweep guidance scale and temperature of a shipped model on the *validation* images (never the test images).

    python plugins/vision/scripts/tune_decoding.py --model digits_next_scale --guidance 1,1.25,1.5 --temperature 0.8,1

Prints one JSON line per setting: MLP and CNN accuracy, the Frechet distance over its floor in both feature spaces,
with the validation images standing in for the test images. ``arkit_vision.evaluation.DECODING`` holds the
settings chosen this way.
"""

from __future__ import annotations

import argparse
import json

import attrs
import torch

from arkit_vision.evaluation import _MODELS, Decoding, _data, _judges, _sample, frechet_floor, sample_quality
from arkit_vision.pretrained import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(_MODELS), required=True)
    parser.add_argument("--guidance", default="1,1.25,1.5,2")
    parser.add_argument("--temperature", default="1")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
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
    for g in (float(x) for x in args.guidance.split(",")):
        for t in (float(x) for x in args.temperature.split(",")):
            out = _sample(pipe, kind, labels, Decoding(guidance_scale=g, temperature=t), seed=500 + args.seed)
            row = sample_quality(out.images, data, judges, floors)
            print(json.dumps({"model": args.model, "guidance": g, "temperature": t,
                              **{k: round(v, 4) for k, v in row.items()}}), flush=True)


if __name__ == "__main__":
    main()
