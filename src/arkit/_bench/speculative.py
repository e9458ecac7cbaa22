"""``arkit bench speculative``: wall-clock speedup of speculative decoding over plain decoding.

1. The target is the shipped reference model ``core/ref-text`` (byte vocabulary, 4 layers,
   d_model 256, 4 heads; trained by ``scripts/train_reference.py`` on the standard
   library's source and help text, with copy and edit structure, so that it repeats what
   its context repeats, as real models do). Its drafters ship next to it, trained on its own
   data by ``scripts/train_reference_drafters.py``: the draft model ``core/ref-text-draft``
   (2 layers, d_model 128; for ``core/draft-model`` and ``core/hierarchical``), five
   Medusa heads ``core/ref-text-medusa`` (self-distilled on the frozen target) and an
   EAGLE layer ``core/ref-text-eagle`` (one layer over the target's features).
   ``--quick`` and ``run(train_steps=N)`` train a fresh target instead; then a 1-layer,
   d_model 64 draft model trains briefly on :func:`arkit.tiny_corpus`, seeded, Medusa
   heads train on the target's own continuations of held-out passages, and an EAGLE
   layer on held-out passages, once per run.
2. Workloads that stand for real use:

   - *quote*: answers that repeat parts of the prompt: a passage followed by its opening
     again, a passage asked to be quoted back, a line to rewrite with one change;
   - *free*: open-ended continuation of a passage's opening, where drafts mostly fail;
   - *mixed*: a batch of 8 rows, half quote and half free.
3. For each workload and batch (1 and 8; mixed at 8), greedy and sampling: plain decoding
   and each drafter with the same target, prompts and sampler, measured interleaved round
   after round (medians). A drafter that is not registered is skipped with a note. Greedy
   outputs are checked equal to plain greedy in every run. Mean accepted tokens per target
   call is reported next to each speedup.
4. Peers on the same weights through arkit-hf's ``to_llama``: transformers' plain
   ``generate``, assisted generation (the draft model converted too) and prompt-lookup
   decoding (``prompt_lookup_num_tokens``), batch 1 (transformers refuses both for batch > 1).
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any
import warnings

import torch

import arkit

from .._corpus import tiny_corpus
from ..registry import get_converter
from ..types import TrainConfig
from ._common import interleaved, median

REFERENCE = "core/ref-text"
REFERENCE_DRAFT, REFERENCE_MEDUSA = "core/ref-text-draft", "core/ref-text-medusa"  # trained for it, shipped
REFERENCE_EAGLE = "core/ref-text-eagle"
TARGET_DIMS = {"d_model": 256, "n_layers": 4, "n_heads": 4, "max_seq_len": 512}
DRAFT_DIMS = {"d_model": 64, "n_layers": 1, "n_heads": 2, "max_seq_len": 512}  # about 1/40 of the target's weights
WORKLOADS = ("quote", "free", "mixed")
TARGETS = [  # (drafter or "*" for every drafter, workload, batch, mode, minimum speedup over plain decoding)
    ("core/prompt-lookup", "quote", 1, "greedy", 2.5),
    ("core/medusa", "quote", 1, "greedy", 2.3),
    ("core/prompt-lookup", "quote", 8, "greedy", 1.5),
    ("core/prompt-lookup", "mixed", 8, "greedy", 1.2),
    ("*", "free", 8, "greedy", 0.95),
]
PEERS = {  # arkit drafter -> the transformers variant doing the same thing
    "core/prompt-lookup": "transformers-prompt-lookup",
    "core/draft-model": "transformers-assisted",
    "core/hierarchical": "transformers-assisted",
}


def _pipeline(dims: dict[str, int], seed: int) -> arkit.Pipeline:
    torch.manual_seed(seed)
    return arkit.Pipeline.from_preset("core/tiny-byte", backbone=dims, head={"d_model": dims["d_model"]},
                                      sampler=arkit.create("sampler", "core/greedy"),
                                      cache=arkit.create("cache", "core/static"))


def _train(pipe: arkit.Pipeline, corpus: list[str], steps: int, seed: int, progress: bool) -> float:
    result = pipe.fit(corpus, TrainConfig(steps=steps, batch_size=8, seq_len=128, seed=seed, threads=1, lr=3e-3,
                                          warmup_steps=min(20, steps // 5), progress=progress))
    return float(sum(result.losses[-5:]) / len(result.losses[-5:]))


# -- recipes: how each drafter is built for the benchmark --------------------------------------
def _prompt_lookup(ctx: dict[str, Any]) -> Any:
    return arkit.create("drafter", "core/prompt-lookup", max_ngram=3, min_ngram=1)


def _draft_model(ctx: dict[str, Any]) -> Any:
    return arkit.create("drafter", "core/draft-model", **ctx["draft_config"])


def _hierarchical(ctx: dict[str, Any]) -> Any:
    from ..drafters.draft_model import DraftModel

    inner = arkit.create("drafter", "core/prompt-lookup", max_ngram=3, min_ngram=1)
    return arkit.create("drafter", "core/hierarchical", drafter=DraftModel(ctx["draft"]), inner=inner)


def _medusa(ctx: dict[str, Any]) -> Any:
    from ..training.medusa import train_medusa

    if ctx["shipped"]:
        return arkit.Pipeline.from_preset(REFERENCE_MEDUSA).drafter
    target = ctx["target"]
    heads = arkit.create("drafter", "core/medusa", d_model=target.backbone.d_model,
                         vocab_size=target.head.vocab_size, num_heads=ctx["num_draft_tokens"])  # a head per draft slot
    # self-distillation data (the Medusa paper's recipe): the target's own continuations of held-out passages,
    # so the heads learn what the target writes (its greedy loops included), not what the corpus says
    held_out = _prompts(ctx["corpus"][::-1], 64, 160)  # the bench's prompts come from the front of the corpus
    train_medusa(target, heads, held_out, steps=ctx["medusa_steps"], batch_size=8, seq_len=128,
                 generate_tokens=ctx["medusa_tokens"], seed=ctx["seed"], progress=False)
    return heads


def _eagle(ctx: dict[str, Any]) -> Any:
    from ..drafters.eagle import EagleDrafter
    from ..training.eagle import train_eagle

    if ctx["shipped"]:
        return arkit.Pipeline.from_preset(REFERENCE_EAGLE).drafter
    target = ctx["target"]
    torch.manual_seed(ctx["seed"])
    eagle = EagleDrafter.for_pipeline(target)
    train_eagle(target, eagle, _prompts(ctx["corpus"][::-1], 64, 160), steps=ctx["medusa_steps"], batch_size=8,
                seq_len=128, seed=ctx["seed"], progress=False)  # held-out passages, as Medusa's
    return eagle


def _jacobi(ctx: dict[str, Any]) -> Any:
    return arkit.create("drafter", "core/jacobi")


def _token_recycling(ctx: dict[str, Any]) -> Any:
    return arkit.create("drafter", "core/token-recycling", vocab_size=ctx["target"].head.vocab_size)


def _datastore(ctx: dict[str, Any]) -> Any:
    # arkit-retrieval's REST drafter over the corpus the target learned: its continuations quote that corpus
    target = ctx["target"]
    return arkit.create("drafter", "retrieval/datastore", documents=[target.encode(d) for d in ctx["corpus"]])


RECIPES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "core/prompt-lookup": _prompt_lookup,
    "core/draft-model": _draft_model,
    "core/hierarchical": _hierarchical,
    "core/medusa": _medusa,
    "core/eagle": _eagle,
    "core/jacobi": _jacobi,
    "core/token-recycling": _token_recycling,
    "retrieval/datastore": _datastore,  # skipped with a note where arkit-retrieval is not installed
}


def _prompts(corpus: list[str], batch: int, chars: int) -> list[str]:
    """Passages followed by their own opening: the continuation repeats text the prompt holds."""
    passages = [d for d in corpus if len(d) >= chars][: 8 * batch : 8]
    return [p[:chars] + " " + p[: chars // 4] for p in passages[:batch]]


def _quote(corpus: list[str], batch: int, chars: int) -> list[str]:
    """Prompts whose answer repeats the prompt: a passage then its opening again, a passage to quote
    back, a line to rewrite with one change (the three forms in turn)."""
    passages = [d for d in corpus if len(d) >= chars][1 : 8 * batch + 1 : 8]
    out = []
    for i, p in enumerate(passages[:batch]):
        text = p[:chars]
        if i % 3 == 0:
            out.append(text + " " + text[: chars // 4])
        elif i % 3 == 1:
            first = text.split(". ")[0]
            out.append(f"{text}\n\nQuote: \"{first[: chars // 5]}")
        else:
            out.append(f"Rewrite with one change:\n{text[: chars // 2]}\n{text[: chars // 10]}")
    return out


def _free(corpus: list[str], batch: int, chars: int) -> list[str]:
    """The opening of a passage, to continue freely: nothing in the prompt to copy."""
    passages = [d for d in corpus if len(d) >= chars][3 : 8 * batch + 3 : 8]
    return [p[: chars // 2] for p in passages[:batch]]


def _workload(name: str, corpus: list[str], batch: int, chars: int) -> list[str]:
    if name == "quote":
        return _quote(corpus, batch, chars)
    if name == "free":
        return _free(corpus, batch, chars)
    half = batch // 2  # mixed: half of each
    return [p for pair in zip(_quote(corpus, half, chars), _free(corpus, batch - half, chars)) for p in pair]


def run(
    *,
    quick: bool = False,
    batches: tuple[int, ...] = (1, 8),
    modes: tuple[str, ...] = ("greedy", "sampling"),
    workloads: tuple[str, ...] = WORKLOADS,
    new_tokens: int | None = None,
    repeats: int | None = None,
    train_steps: int | None = None,
    draft_steps: int | None = None,
    num_draft_tokens: int = 5,
    threads: int = 1,
    seed: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure and return the benchmark's figures (see the module docstring)."""
    torch.set_num_threads(threads)
    say = progress or (lambda msg: None)
    dims, draft_dims = dict(TARGET_DIMS), dict(DRAFT_DIMS)
    if quick:  # a smoke test: tiny models, few steps, few tokens
        dims.update(d_model=64, n_layers=2, n_heads=4, max_seq_len=256)
        draft_dims.update(d_model=64, n_layers=1, n_heads=4, max_seq_len=256)
    new_tokens = new_tokens or (16 if quick else 64)
    repeats = repeats or (1 if quick else 3)
    draft_steps = draft_steps if draft_steps is not None else (5 if quick else 250)
    corpus = tiny_corpus(40_000 if quick else 400_000)
    started = time.perf_counter()

    if quick or train_steps is not None:  # a freshly trained target (quick: a tiny one)
        train_steps = train_steps or 5
        say(f"speculative: training the target ({dims['n_layers']} layers, d_model {dims['d_model']}) "
            f"for {train_steps} steps")
        target = _pipeline(dims, seed)
        about = {**dims, "train_steps": train_steps,
                 "final_loss": round(_train(target, corpus, train_steps, seed, progress is not None and not quick), 3)}
    else:
        say(f"speculative: the target is the shipped {REFERENCE}, its drafters {REFERENCE_DRAFT} and "
            f"{REFERENCE_MEDUSA}")
        target = arkit.Pipeline.from_preset(REFERENCE, sampler=arkit.create("sampler", "core/greedy"))
        about = {"preset": REFERENCE, **{k: target.backbone.config[k] for k in dims}}
    shipped = "preset" in about
    if shipped:
        model = arkit.Pipeline.from_preset(REFERENCE_DRAFT).drafter
        draft = arkit.Pipeline(tokenizer=target.tokenizer, backbone=model.backbone, head=model.head,
                               sampler=arkit.create("sampler", "core/greedy"), cache=arkit.create("cache", "core/static"))
        about_draft = {"preset": REFERENCE_DRAFT, **{k: draft.backbone.config[k] for k in draft_dims}}
    else:
        say(f"speculative: training the 1-layer draft model for {draft_steps} steps")
        draft = _pipeline(draft_dims, seed + 1)
        draft_loss = _train(draft, corpus, draft_steps, seed + 1, progress is not None and not quick)
        about_draft = {**draft_dims, "train_steps": draft_steps, "final_loss": round(draft_loss, 3)}
    from ..drafters.draft_model import DraftModel

    ctx: dict[str, Any] = {"target": target, "draft": draft, "corpus": corpus, "seed": seed, "shipped": shipped,
                           "medusa_steps": 5 if quick else 150, "medusa_tokens": 8 if quick else 128,
                           "num_draft_tokens": num_draft_tokens,
                           "draft_config": dict(DraftModel(draft).config)}
    # the draft model's recipe rebuilds from config: load the trained weights into it
    registered = {info.name for info in arkit.list_components("drafter")}
    drafters: dict[str, Any] = {}
    notes: list[str] = []
    for name, recipe in RECIPES.items():
        if name not in registered:
            notes.append(f"{name}: not registered in this arkit; skipped")
            continue
        say(f"speculative: preparing {name}")
        try:
            drafter = recipe(ctx)
            if name == "core/draft-model":
                drafter.load_state_dict(DraftModel(draft).state_dict())
            drafters[name] = drafter
        except Exception as exc:  # a broken recipe must not hide the other figures
            notes.append(f"{name}: recipe failed ({type(exc).__name__}: {exc}); skipped")

    report: dict[str, Any] = {
        "benchmark": "speculative", "quick": quick, "threads": threads, "new_tokens": new_tokens,
        "num_draft_tokens": num_draft_tokens, "repeats": repeats, "torch": torch.__version__,
        "workloads": list(workloads),
        "target": {**about, "parameters": target.num_parameters},
        "draft": {**about_draft, "parameters": draft.num_parameters},
        "results": [], "peers": [], "targets": [], "notes": notes,
    }
    samplers = {"greedy": arkit.create("sampler", "core/greedy"),
                "sampling": arkit.create("sampler", "core/multinomial", temperature=0.8, top_k=40)}
    hf = _peers(target, draft, notes)
    for mode in modes:
        base = target.replace(sampler=samplers[mode])
        for workload in workloads:
            for batch in batches:
                if workload == "mixed" and batch < 2:
                    continue  # a mix needs rows of both kinds
                prompts = _workload(workload, corpus, batch, 160 if not quick else 60)
                ids = [base.encode(p) for p in prompts]
                say(f"speculative: {mode}, {workload}, batch {batch}: plain and {len(drafters)} drafters")
                _measure(report, base, drafters, ids, mode, workload, batch, hf, new_tokens, num_draft_tokens,
                         repeats, seed)
    for name, workload, batch, mode, minimum in TARGETS:
        # "*": every core drafter (a plugin's drafter, such as retrieval/datastore, is reported, not judged here)
        hit = [r for r in report["results"] if (r["workload"], r["batch"], r["mode"]) == (workload, batch, mode)
               and (r["drafter"] == name or name == "*" and r["drafter"].startswith("core/"))]
        label = (f"{'every core drafter' if name == '*' else name} batch {batch} {workload} {mode}: "
                 f"speedup >= {minimum}x")
        if not hit:
            report["targets"].append({"name": label, "value": None, "target": minimum, "met": False,
                                      "note": "not measured (drafter missing or workload/mode/batch not run)"})
            continue
        worst = min(hit, key=lambda r: r["speedup"])
        entry = {"name": label, "value": worst["speedup"], "target": minimum, "met": worst["speedup"] >= minimum,
                 "mean_accepted_per_call": worst["mean_accepted_per_call"]}
        if name == "*":
            entry["slowest"] = worst["drafter"]
        report["targets"].append(entry)
    greedy = [r for r in report["results"] if r["mode"] == "greedy"]
    if greedy:
        report["targets"].append({"name": "lossless: greedy tokens equal plain decoding's in every run",
                                  "value": sum(r["same_tokens_as_plain"] for r in greedy), "target": len(greedy),
                                  "met": all(r["same_tokens_as_plain"] for r in greedy)})
    compared = [r for r in report["results"] if "faster_than_peer" in r]
    if compared:
        report["targets"].append({
            "name": "every drafter faster than its transformers peer (batch 1)",
            "value": sum(r["faster_than_peer"] for r in compared), "target": len(compared),
            "met": all(r["faster_than_peer"] for r in compared),
            "misses": [f"{r['drafter']} {r['mode']}" for r in compared if not r["faster_than_peer"]],
        })
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    return report


def _measure(report: dict[str, Any], base: arkit.Pipeline, drafters: dict[str, Any], ids: list[list[int]], mode: str,
             workload: str, batch: int, hf: dict[str, Callable[..., Any]] | None, new_tokens: int,
             num_draft_tokens: int, repeats: int, seed: int) -> None:
    """Plain decoding, every drafter and (batch 1) the transformers peers on one workload, interleaved."""
    options = {"max_new_tokens": new_tokens, "eos_token_ids": (), "seed": seed}
    variants: dict[str, Callable[[], Any]] = {"plain": lambda: base.generate(prompt_ids=ids, **options)}
    for name, drafter in drafters.items():
        pipe = base.replace(drafter=drafter)
        variants[name] = (lambda pipe=pipe: pipe.generate(prompt_ids=ids, num_draft_tokens=num_draft_tokens,
                                                          **options))
    last: dict[str, Any] = {}
    timed = {name: (lambda name=name, fn=fn: last.__setitem__(name, fn())) for name, fn in variants.items()}
    if hf is not None and batch == 1:
        for peer, fn in hf.items():
            timed[peer] = (lambda fn=fn: fn(ids[0], new_tokens, mode == "sampling"))
    times = interleaved(timed, repeats)
    plain_s = median(times["plain"])
    reference = last["plain"].sequences
    for name in variants:
        if name == "plain":
            continue
        out = last[name]
        seconds = median(times[name])
        entry = {"drafter": name, "workload": workload, "batch": batch, "mode": mode, "seconds": round(seconds, 4),
                 "plain_seconds": round(plain_s, 4), "speedup": round(plain_s / seconds, 3),
                 "mean_accepted_per_call": round(out.speculative.mean_accepted_per_call, 3),
                 "acceptance_rate": round(out.speculative.acceptance_rate, 3),
                 "drafter_share": round(out.speculative.drafter_s / max(seconds, 1e-9), 3)}
        if mode == "greedy":
            entry["same_tokens_as_plain"] = out.sequences == reference
        peer = PEERS.get(name)
        if peer in times:
            entry["peer"] = peer
            entry["faster_than_peer"] = seconds < median(times[peer])
        report["results"].append(entry)
    for peer in (hf or {}) if batch == 1 else ():
        report["peers"].append({"variant": peer, "workload": workload, "batch": batch, "mode": mode,
                                "seconds": round(median(times[peer]), 4),
                                "speedup_over_arkit_plain": round(plain_s / median(times[peer]), 3)})


def _peers(target: arkit.Pipeline, draft: arkit.Pipeline, notes: list[str]) -> dict[str, Callable[..., Any]] | None:
    """transformers on the same weights: plain, assisted generation, prompt-lookup decoding (batch 1)."""
    try:
        to_llama = get_converter("hf/llama")  # registered by arkit-hf; arkit imports no plugin
    except arkit.UnknownComponentError:
        notes.append("transformers peers: arkit-hf (plugins/hf) is not installed; skipped")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, assistant = to_llama(target.backbone, target.head), to_llama(draft.backbone, draft.head)

    def call(extra: dict[str, Any]) -> Callable[..., Any]:
        def generate(prompt: list[int], new: int, sample: bool) -> Any:
            ids = torch.tensor([prompt])
            sampling = {"do_sample": True, "temperature": 0.8, "top_k": 40} if sample else {"do_sample": False}
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                                      min_new_tokens=new, pad_token_id=0, eos_token_id=None, **sampling, **extra)

        return generate

    return {
        "transformers-plain": call({}),
        "transformers-assisted": call({"assistant_model": assistant}),
        "transformers-prompt-lookup": call({"prompt_lookup_num_tokens": 5}),
    }
