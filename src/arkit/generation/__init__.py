"""Generation: one request, one scoring step, one set of stopping rules, and the loops built on them.

Read it in this order (docs/generation.md walks through one call):

- ``request.py``: what to generate, checked once (:func:`~arkit.generation.request.build_request`);
- ``run.py``: which loop runs it, and what comes out (the one place that chooses);
- ``batch.py``: rows in one buffer, guidance twins, prefill and step inputs, masks;
- ``scoring.py``: logits to the sampler's scores, for every loop;
- ``stopping.py``: why a row stops;
- ``stats.py``: what a call did;
- the loops: ``sample.py`` (token by token), ``beam.py``, ``speculative/``, ``next_scale.py``,
  ``blocks.py``, ``continuous.py``.
"""
