"""The extract stage: lock, resume, repair, merge, publish.

Work happens in ``.bridge/partial/<dataset>/<encoder>/<tower>`` (outside DVC
outputs, which DVC deletes when a stage reruns) and the finished set is
published to ``artifacts/embeddings/...`` by ``replace_dir`` (renames on one
file system, a staged copy first when ``artifacts/`` is on another one; the
old set is kept until the new one is in place). A killed run resumes from the
shards its manifest lists.

An intact finished set is left alone. A damaged one (a truncated or
bit-flipped shard, a manifest that disagrees with its shards, a shard whose
source rows changed) is repaired, not redone: its intact shards are
hard-linked into the partial directory and only the bad ones are encoded
again. The same adoption assembles ``--partition I/N`` parts. One writer per
set at a time (``core/lock.py``).
"""

from __future__ import annotations

from pathlib import Path

from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.core.files import recover_dir, replace_dir
from embridge.core.layout import Layout
from embridge.core.lock import hold
from embridge.extract.local import write_shards_local
from embridge.extract.partition import Partition, adopt_parts, part_dir, part_lock, remove_parts, set_lock
from embridge.extract.plan import Notify, Progress, SetPlan, plan_set
from embridge.store.embedding_set import SetWriter, set_problems


def extract_set(params: Params, name: str, root: Path = Path("."), progress: Progress | None = None,
                partition: Partition | None = None, merge: bool = False, backend: str = "local",
                notify: Notify | None = None) -> Path:
    """Extract the set ``extract.sets.<name>``; returns its directory.

    With ``partition``, only that part's shards are written, into the part's
    directory (returned). With ``merge``, finished parts are assembled and
    nothing is encoded: a shard no part holds is an error. Without either,
    parts found on disk are used too and the rest is encoded.
    """
    if backend not in ("local", "ray"):
        raise BridgeError(f"--backend {backend!r}: expected 'local' or 'ray'")
    if partition is not None and merge:
        raise BridgeError("--partition and --merge do not go together: run the partitions, then --merge")
    plan = plan_set(params, name, root)
    if partition is None:
        lock, what = set_lock(root, plan.ref.path), f"embedding set {plan.ref.path}"
    else:
        lock, what = part_lock(root, plan.ref.path, partition.dirname), f"partition {partition} of {plan.ref.path}"
    with hold(lock, what):
        return _extract(params, plan, root, progress, partition, merge, backend, notify)


def _extract(params: Params, plan: SetPlan, root: Path, progress: Progress | None, partition: Partition | None,
             merge: bool, backend: str, notify: Notify | None) -> Path:
    """``extract_set`` under its lock."""
    name, ref, header = plan.name, plan.ref, plan.header
    layout = Layout(root)
    final, partial = layout.embeddings(ref.path), layout.partial(ref.path)
    recover_dir(final)
    if partition is not None:
        writer = SetWriter(part_dir(root, ref.path, partition), {**header, **partition.header}, plan.sources)
        todo = [i for i in partition.shards(plan.shards) if not writer.done(i)]
    else:
        problems = set_problems(final, header, plan.sources)
        if not problems:
            return final
        writer = SetWriter(partial, header, plan.sources)
        kept = writer.adopt(final) if final.exists() else []
        parts = adopt_parts(writer, root, ref.path)
        todo = [i for i in range(plan.shards) if not writer.done(i)]
        if final.exists() and notify:
            notify(f"{name}: {'; '.join(problems)} -> keeping {len(kept)} intact shards, redoing {len(todo)}")
        if merge and todo:
            more = ", ..." if len(todo) > 8 else ""
            raise BridgeError(f"cannot merge {name}: shards {', '.join(map(str, todo[:8]))}{more} of {plan.shards} "
                              f"are in no finished part under {Layout(root).parts(ref.path)}; "
                              f"run the missing `bridge extract {name} --partition I/N` first")
    if backend == "ray":
        from embridge.extract.ray import write_shards_ray

        write_shards_ray(writer, plan, params, todo, progress)
    write_shards_local(writer, plan, todo, progress)
    writer.finish()
    if partition is not None:
        return writer.path
    replace_dir(partial, final)
    remove_parts(root, ref.path, parts)
    return final
