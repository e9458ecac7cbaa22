"""Next-scale prediction: block-causal masks, K model calls for K scales, cache == full forward."""

from __future__ import annotations

import pytest
import torch

import arkit
from arkit import NextScaleSchedule, generate_next_scale
from tests.helpers import tiny_pipeline


def test_the_mask_is_block_causal() -> None:
    schedule = NextScaleSchedule((1, 2, 4))
    mask = schedule.attention_mask(prompt_length=3)
    blocks = schedule.block_ids(3)
    assert mask.shape == (3 + 4 + 16, 3 + 4 + 16)
    for q in range(mask.shape[0]):
        for k in range(mask.shape[1]):
            if blocks[q] == 0:  # the prompt is causal
                expected = k <= q
            else:  # a scale sees the prompt, earlier scales and all of itself, never a later scale
                expected = bool(blocks[k] <= blocks[q])
            assert bool(mask[q, k]) == expected, (q, k)


def test_upsampling_is_nearest_neighbour() -> None:
    schedule = NextScaleSchedule((1, 2, 4))
    coarse = torch.tensor([[[1, 2], [3, 4]]])
    assert schedule.upsample(coarse, 4).tolist() == [[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]


@pytest.mark.parametrize("sides", [(1, 2, 4, 8), (1, 3, 5)])
def test_one_model_call_per_scale_and_the_same_maps_as_a_full_forward(sides: tuple[int, ...]) -> None:
    pipe = tiny_pipeline()
    schedule = NextScaleSchedule(sides)
    prompts = [[256, 65], [256, 66, 67]]
    maps, calls = generate_next_scale(pipe, prompts, schedule, arkit.GenerationConfig(seed=0))
    assert calls == len(sides) and [m.shape[1:] for m in maps] == [(s, s) for s in sides]
    # Recompute every scale with one forward pass over the whole teacher-forced sequence (greedy).
    for row, prompt in enumerate(prompts):
        row_maps = [m[row : row + 1] for m in maps]
        ids, _, positions, mask = schedule.training_example(torch.tensor([prompt]), row_maps)
        with torch.no_grad():
            logits = pipe.head(pipe.backbone(ids, positions=positions, attention_mask=mask))[0]
        predicted = logits.argmax(-1)
        P = len(prompt)
        assert int(predicted[P - 1]) == int(row_maps[0].flatten()[0])
        offset = P
        for m, side in zip(row_maps[1:], sides[1:]):
            assert predicted[offset : offset + side * side].tolist() == m.flatten().tolist()
            offset += side * side


def test_training_example_aligns_targets_with_scales() -> None:
    schedule = NextScaleSchedule((1, 2))
    maps = [torch.tensor([[[7]]]), torch.tensor([[[1, 2], [3, 4]]])]
    ids, targets, positions, mask = schedule.training_example(torch.tensor([[256, 9]]), maps)
    assert ids.tolist() == [[256, 9, 7, 7, 7, 7]]
    assert targets.tolist() == [[-100, 7, 1, 2, 3, 4]]
    assert positions.tolist() == [[0, 1, 2, 3, 4, 5]] and mask.shape == (1, 6, 6)


def test_guidance_and_bad_schedules() -> None:
    pipe = tiny_pipeline("core/multinomial", temperature=1.0)
    maps, calls = generate_next_scale(pipe, [[256, 65]], NextScaleSchedule((1, 2)),
                                      arkit.GenerationConfig(seed=1, guidance_scale=2.0), negative_prompts=[[256]])
    assert calls == 2 and maps[1].shape == (1, 2, 2)
    for bad in [(2, 4), (1, 1, 2), ()]:
        with pytest.raises(arkit.ConfigError, match="sides"):
            NextScaleSchedule(bad)
    with pytest.raises(arkit.InputError, match="longer max_seq_len"):
        generate_next_scale(pipe, [[256]], NextScaleSchedule((1, 4, 16)), arkit.GenerationConfig())
