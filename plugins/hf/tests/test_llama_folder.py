"""arkit_hf.save_llama: a Hugging Face Llama folder from arkit weights, for tools such as onnxruntime-genai's builder."""

from __future__ import annotations

import json
from pathlib import Path
import warnings

import pytest
import torch
import transformers

import arkit
from arkit_hf import save_llama

warnings.filterwarnings("ignore", category=FutureWarning)


def _pipeline() -> arkit.Pipeline:
    torch.manual_seed(0)
    return arkit.Pipeline.from_preset(
        "core/tiny-byte",
        backbone={"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 128},
        head={"d_model": 64},
    )


def test_the_folder_loads_in_transformers_with_the_same_logits_and_special_ids(tmp_path: Path) -> None:
    pipe = _pipeline()
    folder = save_llama(pipe.backbone, pipe.head, tmp_path / "llama", tokenizer=pipe.tokenizer)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in folder.iterdir()}
    model = transformers.LlamaForCausalLM.from_pretrained(folder).eval()
    special = pipe.tokenizer.special_tokens
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (
        special["bos"], special["eos"], special["pad"])
    ids = torch.tensor([pipe.encode("compare logits")])
    with torch.no_grad():
        ours = pipe.head(pipe.backbone(ids, positions=torch.arange(ids.shape[1])[None]))
        theirs = model(ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    # core/byte has no tokenizer.json: a word-level one maps "t{i}" to id i, for tools that need the files
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(folder)
    assert fast.convert_tokens_to_ids(["t0", "t258"]) == [0, 258] and fast.eos_token == f"t{special['eos']}"


def test_a_tokenizers_tokenizer_is_written_as_it_is(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models

    pipe = _pipeline()
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(259)}, unk_token="w0"))
    tokenizer = arkit.create("tokenizer", "hf/tokenizer", tokenizer_json=words.to_str(), special_tokens={"eos": 5})
    folder = save_llama(pipe.backbone, pipe.head, tmp_path / "llama", tokenizer=tokenizer)
    assert json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]["w7"] == 7
    assert transformers.LlamaConfig.from_pretrained(folder).eos_token_id == 5


def test_a_non_empty_folder_is_refused(tmp_path: Path) -> None:
    pipe = _pipeline()
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(arkit.ConfigError, match="not empty"):
        save_llama(pipe.backbone, pipe.head, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
