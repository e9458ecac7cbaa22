"""arkit-hf: transformers models inside arkit, and arkit weights inside transformers."""

from __future__ import annotations

from pathlib import Path
import warnings

import pytest
import torch
import transformers

import arkit
from arkit_hf import from_transformers, to_llama

warnings.filterwarnings("ignore", category=FutureWarning)


def _arkit_pipeline() -> arkit.Pipeline:
    torch.manual_seed(0)
    return arkit.Pipeline.from_preset(
        "core/tiny-byte",
        backbone={"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 128},
        head={"d_model": 64}, sampler=arkit.create("sampler", "core/greedy"),
    )


def _hf_greedy(model: object, prompts: list[list[int]], new: int) -> list[list[int]]:
    """transformers' own generate on a left-padded batch."""
    width = max(map(len, prompts))
    ids = torch.tensor([[258] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False,  # type: ignore[attr-defined]
                             pad_token_id=258, eos_token_id=None)
    return out[:, width:].tolist()


@pytest.mark.parametrize("prompts", [["hello world"], ["a much longer prompt here", "hi", "mid size"]])
def test_arkit_greedy_equals_transformers_greedy_on_the_same_weights(prompts: list[str]) -> None:
    pipe = _arkit_pipeline()
    llama = to_llama(pipe.backbone, pipe.head)
    ids = [pipe.encode(p) for p in prompts]
    ours = pipe.generate(prompt_ids=ids, max_new_tokens=12, eos_token_ids=()).sequences
    assert [list(s) for s in ours] == _hf_greedy(llama, ids, 12)


def test_logits_match_to_float_precision() -> None:
    pipe = _arkit_pipeline()
    llama = to_llama(pipe.backbone, pipe.head)
    ids = torch.tensor([pipe.encode("compare logits")])
    with torch.no_grad():
        ours = pipe.head(pipe.backbone(ids, positions=torch.arange(ids.shape[1])[None]))
        theirs = llama(ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_wrapped_transformers_models_decode_like_transformers(architecture: str, cache: str) -> None:
    torch.manual_seed(1)
    if architecture == "llama":
        config = transformers.LlamaConfig(vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
        model = transformers.LlamaForCausalLM(config)
    else:
        config = transformers.GPT2Config(vocab_size=259, n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                         bos_token_id=256, eos_token_id=257)
        model = transformers.GPT2LMHeadModel(config)
    model.eval()
    pipe = from_transformers(model, cache=arkit.create("cache", cache))
    prompts = [pipe.encode(p) for p in ["hello there", "hi"]]
    ours = pipe.generate(prompt_ids=prompts, max_new_tokens=8, eos_token_ids=()).sequences
    assert [list(s) for s in ours] == _hf_greedy(model, prompts, 8)


def test_a_wrapped_model_saves_and_loads(tmp_path: Path) -> None:
    config = transformers.LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=64)
    pipe = from_transformers(transformers.LlamaForCausalLM(config).eval())
    out = pipe.generate(["abc"], max_new_tokens=6)
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.backbone.config["config"]["model_type"] == "llama"
    assert loaded.generate(["abc"], max_new_tokens=6).sequences == out.sequences


def test_hf_tokenizer_from_a_locally_trained_bpe() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["the cat sat on the mat"] * 20, trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                                                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = arkit.create("tokenizer", "hf/tokenizer", tokenizer_json=bpe.to_str(), special_tokens={"eos": 0}, lossless=True)
    ids = tok.encode("the cat sat")
    assert tok.decode(ids) == "the cat sat" and max(ids) < tok.vocab_size
    with pytest.raises(arkit.InputError):
        tok.encode(42)  # type: ignore[arg-type]
    with pytest.raises(arkit.ConfigError, match="tokenizer.json"):
        arkit.create("tokenizer", "hf/tokenizer", tokenizer_json="{not json")


def test_configs_without_a_model_type_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="model_type"):
        arkit.create("backbone", "hf/causal-lm", config={"hidden_size": 8})
