"""Continuous tokens: real-vector inputs, a Gaussian-mixture head, seeded sampling with temperature."""

from __future__ import annotations

import math

import pytest
import torch

import arkit
from arkit.generation.continuous import sample_mixture


def _model(dim: int = 3) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=1, d_model=32, n_layers=2, n_heads=2,
                            input_dim=dim, max_seq_len=64)
    head = arkit.create("head", "core/gaussian-mixture", d_model=32, dim=dim, components=3)
    return backbone.eval(), head.eval()


def test_cached_decoding_of_continuous_inputs_equals_the_full_forward() -> None:
    backbone, head = _model()
    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(1))
    positions = torch.arange(9).expand(2, -1)
    with torch.no_grad():
        full = head(backbone(x, positions=positions)).mean
        cache = arkit.create("cache", "core/static")
        cache.allocate(backbone.cache_spec(), batch_size=2, max_len=9, dtype=torch.float32, device="cpu")
        parts = [head(backbone(x[:, :4], positions=positions[:, :4], cache=cache)).mean]
        parts += [head(backbone(x[:, i : i + 1], positions=positions[:, i : i + 1], cache=cache)).mean for i in range(4, 9)]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)


def test_generation_is_seeded_and_temperature_zero_is_deterministic() -> None:
    backbone, head = _model()
    context = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(2))
    a = arkit.generate_continuous(backbone, head, context, 5, seed=7)
    assert a.shape == (2, 5, 3)
    assert torch.equal(a, arkit.generate_continuous(backbone, head, context, 5, seed=7))
    assert not torch.equal(a, arkit.generate_continuous(backbone, head, context, 5, seed=8))
    cold = [arkit.generate_continuous(backbone, head, context, 5, temperature=0.0, seed=s) for s in (1, 2)]
    assert torch.equal(cold[0], cold[1])


def _known_mixture(temperature: float, n: int) -> torch.Tensor:
    """p = (0.25, 0.75), means (-2, 2), std 0.5: draw n samples."""
    head = arkit.create("head", "core/gaussian-mixture", d_model=4, dim=1, components=2, min_std=1e-6)
    with torch.no_grad():
        head.proj.weight.zero_()
        raw_std = math.log(math.expm1(0.5))  # softplus^-1(0.5)
        head.proj.bias.copy_(torch.tensor([0.0, math.log(3.0), -2.0, 2.0, raw_std, raw_std]))
    with torch.no_grad():
        dist = head(torch.zeros(n, 1, 4))
    return sample_mixture(dist, torch.Generator().manual_seed(0), temperature).flatten()


@pytest.mark.parametrize(("temperature", "weights"), [(1.0, (0.25, 0.75)), (0.5, (0.1, 0.9))])
def test_sample_moments_match_the_tempered_mixture(temperature: float, weights: tuple[float, float]) -> None:
    """n = 40,000 draws; the sample mean lies within 5 standard errors of the exact mean."""
    n = 40_000
    samples = _known_mixture(temperature, n)
    var_component = 0.25 * temperature
    mean = weights[0] * -2 + weights[1] * 2
    variance = weights[0] * (4 + var_component) + weights[1] * (4 + var_component) - mean**2
    assert abs(float(samples.mean()) - mean) < 5 * math.sqrt(variance / n)
    assert abs(float(samples.var()) - variance) < 0.05 * variance


def test_the_head_trains_by_negative_log_likelihood() -> None:
    """On data from N(1.5, 0.2^2), NLL falls and the mixture's mean approaches 1.5 within 200 steps."""
    head = arkit.create("head", "core/gaussian-mixture", d_model=8, dim=1, components=2)
    hidden = torch.ones(256, 1, 8)
    target = 1.5 + 0.2 * torch.randn(256, 1, 1, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    losses = []
    for _ in range(200):
        loss = -head(hidden).log_prob(target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
    with torch.no_grad():
        assert abs(float(head(hidden[:1]).mean) - 1.5) < 0.1


def test_bad_continuous_inputs() -> None:
    backbone, head = _model()
    with pytest.raises(arkit.InputError, match="continuous inputs"):
        backbone(torch.zeros(1, 2, dtype=torch.long), positions=torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(arkit.InputError, match="finite"):
        arkit.generate_continuous(backbone, head, torch.full((1, 2, 3), float("nan")), 2)
    with pytest.raises(arkit.InputError, match="max_seq_len"):
        arkit.generate_continuous(backbone, head, torch.zeros(1, 60, 3), 10)
    with pytest.raises(arkit.ConfigError):
        arkit.create("head", "core/gaussian-mixture", components=0)
