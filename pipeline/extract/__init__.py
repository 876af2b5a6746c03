"""Stage 1: run a frozen encoder tower over a dataset's rows into an embedding set.

One small file per step, as clip-retrieval's inference does it:

* ``plan.py``: what extracting a set means (source rows, encoder tower, header, per-shard fingerprints),
  built the same way by every process that runs any of it;
* ``encode.py``: rows -> vectors (length batching, worker-process decoding, bad items, normalisation);
* ``local.py``: encode the missing shards here, writing shard i while shard i + 1 is encoded;
* ``ray.py``: encode them on Ray actors instead, writing here;
* ``partition.py``: ``--partition I/N`` parts and ``--merge``;
* ``run.py``: the stage: lock, resume, repair, merge, publish.

Every route writes through the same ``SetWriter``, so every route gives the same bytes.
"""
