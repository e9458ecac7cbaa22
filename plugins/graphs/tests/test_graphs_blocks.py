"""Block-wise generation: BFS layers as blocks, one model call per layer, always a tree."""

from __future__ import annotations

from graphs_strategies import trees
from hypothesis import given, settings
import torch

import arkit
from arkit_graphs import Graph
from arkit_graphs.bfs_layers import BfsLayersTokenizer, LayerSchedule


def _pipeline(seed: int = 0) -> arkit.Pipeline:
    tok = BfsLayersTokenizer(max_nodes=16, max_children=4)
    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                            n_heads=2, max_seq_len=64)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size)
    return arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head,
                          sampler=arkit.create("sampler", "core/multinomial"))


@settings(max_examples=40, deadline=None)
@given(tree=trees(max_nodes=16))
def test_blocks_are_the_bfs_layers_and_rebuild_the_tree(tree: Graph) -> None:
    tok = BfsLayersTokenizer(max_nodes=16, max_children=15)
    schedule = LayerSchedule(tok)
    n, blocks = tok.training_item(tree)
    assert n == tree.n and sum(len(b) for b in blocks) == tree.n  # one count per node
    for k in range(1, len(blocks)):  # each block's inputs follow from the one before
        assert len(schedule.block_inputs(k, [1, tok.size_id(n)], blocks[:k])) == len(blocks[k])
    assert schedule.block_inputs(len(blocks), [1], blocks) is None  # the last layer has no children
    assert tok.decode([t for b in blocks for t in b]) == tree


def test_generated_rows_are_trees_with_one_call_per_layer() -> None:
    pipe = _pipeline()
    tok = pipe.tokenizer
    out = arkit.generate_blocks(pipe, LayerSchedule(tok), prompt_ids=[[1, tok.size_id(12)]] * 16, seed=0,
                                max_blocks=17)
    for row in out.blocks:
        graph = tok.decode([t for b in row for t in b])
        assert graph.is_tree() and graph.n <= tok.max_nodes
    # every block costs one call for the batch: at most the deepest row's block count
    assert out.calls <= max(len(row) for row in out.blocks)
    assert sum(len(r) for r in out.blocks) < sum(sum(len(b) for b in r) for r in out.blocks)


def test_block_training_runs_on_tree_items() -> None:
    pipe = _pipeline(1)
    items = [pipe.tokenizer.training_item(Graph(4, [(0, 1), (0, 2), (2, 3)]))] * 8
    result = pipe.fit(items, schedule=LayerSchedule(pipe.tokenizer), steps=3, batch_size=4, seq_len=8,
                      progress=False, threads=1)
    assert len(result.losses) == 3 and all(torch.isfinite(torch.tensor(result.losses)))
