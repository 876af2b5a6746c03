"""The shared machinery: losses against loop references, masks, pairing, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from methods_world import encode, encoder, single_thread, split  # noqa: F401 - fixture
from safetensors import safe_open

from embridge.bridges.common import group_tuples
from embridge.bridges.emergent import perpendicular
from embridge.bridges.losses import hard_negative_nce, info_nce, symmetric_info_nce
from embridge.bridges.textme import ProjectorParams, TextMEBridge
from embridge.bridges.training import TrainHooks, TrainParams, lr_at
from embridge.core.vectors import Space, Vectors, pair_same_rows
from embridge.worlds.synthetic import World, WorldConfig


def loop_hard_negative(z: torch.Tensor, t: torch.Tensor, tau: float, low: float, high: float) -> torch.Tensor:
    """The public TextME code's formulation: a Python loop over the batch."""
    s = z @ t.T
    losses = []
    for i in range(len(z)):
        neg = [j for j in range(len(z)) if j != i and low * s[i, i] <= s[i, j] <= high * s[i, i]]
        if neg:
            cand = torch.cat([t[i:i + 1], t[neg]])
            logits = (z[i:i + 1] @ cand.T) / tau
            losses.append(F.cross_entropy(logits, torch.zeros(1, dtype=torch.long)))
    return torch.stack(losses).mean()


def unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_hard_negative_matches_the_loop_reference_value_and_gradient() -> None:
    target = unit(64, 16, 1)
    z1 = (target + 0.6 * unit(64, 16, 2)).detach().requires_grad_(True)
    z2 = z1.detach().clone().requires_grad_(True)
    ours = hard_negative_nce(F.normalize(z1, dim=-1), target, 0.07, 0.1, 0.9)
    ref = loop_hard_negative(F.normalize(z2, dim=-1), target, 0.07, 0.1, 0.9)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(z1.grad, z2.grad, rtol=1e-4, atol=1e-7)


def test_hard_negative_falls_back_to_infonce_with_gradient() -> None:
    target = unit(32, 8, 4)
    z = F.normalize(target + 0.3 * unit(32, 8, 3), dim=-1).requires_grad_(True)
    # every s_ii > 0 and the window [2 s_ii, s_ii] is empty: no query has a negative
    loss = hard_negative_nce(z, target, 0.07, low=2.0, high=1.0)
    torch.testing.assert_close(loss, info_nce(z, target, 0.07))
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_masked_infonce_equals_infonce_on_the_present_rows() -> None:
    q, k = unit(40, 12, 5), unit(40, 12, 6)
    mask = torch.arange(40) % 3 != 0
    torch.testing.assert_close(symmetric_info_nce(q, k, 0.1, mask), symmetric_info_nce(q[mask], k[mask], 0.1))
    # a fully masked batch is finite and gradient-free, not NaN
    qq = q.clone().requires_grad_(True)
    out = info_nce(qq, k, 0.1, torch.zeros(40, dtype=torch.bool), torch.zeros(40, dtype=torch.bool))
    out.backward()
    assert torch.isfinite(out) and torch.all(qq.grad == 0)


def test_perpendicular_proxy_gradient_is_orthogonal_to_the_anchor() -> None:
    z = unit(16, 8, 7).requires_grad_(True)
    anchor, proxy = unit(16, 8, 8), unit(16, 8, 9)
    symmetric_info_nce(perpendicular(z, anchor), perpendicular(proxy, anchor), 0.07).backward()
    along = (z.grad * anchor).sum(-1)
    assert along.abs().max() < 1e-6 and z.grad.abs().max() > 1e-3


def vectors(groups: list[str], ids: list[str] | None = None, dim: int = 2) -> Vectors:
    n = len(groups)
    return Vectors(Space("e", "t", dim), np.asarray(ids or [f"r{i}" for i in range(n)]), np.full(n, ""),
                   np.asarray(groups), np.full(n, "train"),
                   np.arange(n * dim, dtype=np.float32).reshape(n, dim))


def test_group_tuples_cycles_short_roles_and_marks_missing() -> None:
    index = group_tuples({"image": vectors(["g1", "g2", "g3"]),
                          "text": vectors(["g1", "g1", "g1", "g3", "g4"])})
    # g1: 3 captions share image 0; g2 has no text; g3 pairs; g4 has no image
    assert index["image"].tolist() == [0, 0, 0, 1, 2, -1]
    assert index["text"].tolist() == [0, 1, 2, -1, 3, 4]


def test_same_rows_pair_by_id_not_by_group() -> None:
    a = vectors(["g1", "g1", "g2"], ids=["c1", "c2", "c3"])
    b = vectors(["g2", "g1", "g1"], ids=["c3", "c2", "c1"])
    ia, ib = pair_same_rows(a, b)
    assert ia.tolist() == [0, 1, 2] and ib.tolist() == [2, 1, 0]


def test_cosine_schedule_decays_to_zero() -> None:
    p = TrainParams(lr=1e-3)
    assert lr_at(p, 0, 100) == pytest.approx(1e-3) and lr_at(p, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(TrainParams(lr=1e-3, schedule="constant"), 90, 100) == 1e-3


@pytest.fixture(scope="module")
def textme_inputs() -> dict[str, Vectors]:
    world = World(WorldConfig(seed=1, groups=400))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=32, seed=1)
    llm = encoder(world, kind="anchor", towers=("text",), dim=40, seed=2)
    return {"text": split(encode(world, clip, "text", "clip"), "train"),
            "modal": split(encode(world, clip, "image", "clip"), "train"),
            "anchor": split(encode(world, llm, "text", "llm"), "train")}


def fit_textme(inputs: dict[str, Vectors], hooks: TrainHooks | None = None, **params: object) -> TextMEBridge:
    bridge = TextMEBridge(ProjectorParams(epochs=6, batch_size=64, noise_std=0.05, **params),
                          {r: v.space for r, v in inputs.items()})
    if hooks is not None:
        bridge.hooks = hooks
    bridge.fit(inputs)
    return bridge


def test_fit_is_deterministic(textme_inputs: dict[str, Vectors]) -> None:
    a, b = fit_textme(textme_inputs), fit_textme(textme_inputs)
    assert a.curve == b.curve
    for key, value in a.state().items():
        np.testing.assert_array_equal(value, b.state()[key])
    assert fit_textme(textme_inputs, seed=7).curve != a.curve


class Killed(Exception):
    """Stands in for SIGKILL between two epochs."""


def test_killed_fit_resumes_to_the_same_weights(textme_inputs: dict[str, Vectors], tmp_path) -> None:
    reference = fit_textme(textme_inputs)
    seen: list[int] = []

    def die_after_three(stage: str, epoch: int, loss: float) -> None:
        seen.append(epoch)
        if epoch == 3:
            raise Killed

    with pytest.raises(Killed):
        fit_textme(textme_inputs, TrainHooks(checkpoint_dir=tmp_path, on_epoch=die_after_three))
    checkpoint = tmp_path / "projector.safetensors"
    with safe_open(str(checkpoint), framework="pt") as f:
        assert f.get_tensor("epoch").tolist() == [3]
    resumed = fit_textme(textme_inputs, TrainHooks(checkpoint_dir=tmp_path,
                                                   on_epoch=lambda stage, epoch, loss: seen.append(epoch)))
    assert seen == [1, 2, 3, 4, 5, 6]
    assert resumed.info["training"]["projector"]["resumed_from"] == 3
    assert resumed.curve == reference.curve
    for key, value in reference.state().items():
        np.testing.assert_array_equal(value, resumed.state()[key])
    # a checkpoint of a different fit (other params) is not reused
    other = fit_textme(textme_inputs, TrainHooks(checkpoint_dir=tmp_path), lr=1e-3)
    assert other.info["training"]["projector"]["resumed_from"] == 0


def test_checkpoints_are_written_at_most_once_per_min_seconds(textme_inputs: dict[str, Vectors], tmp_path) -> None:
    """With ``min_seconds`` longer than the fit, a kill after epoch 3 finds no checkpoint (the fit starts over,
    to the same weights), and the last epoch still writes one."""
    def die_after_three(stage: str, epoch: int, loss: float) -> None:
        if epoch == 3:
            raise Killed

    with pytest.raises(Killed):
        fit_textme(textme_inputs, TrainHooks(checkpoint_dir=tmp_path, on_epoch=die_after_three, min_seconds=1e9))
    assert not (tmp_path / "projector.safetensors").exists()
    done = fit_textme(textme_inputs, TrainHooks(checkpoint_dir=tmp_path, min_seconds=1e9))
    with safe_open(str(tmp_path / "projector.safetensors"), framework="pt") as f:
        assert f.get_tensor("epoch").tolist() == [len(done.curve)]
    assert done.curve == fit_textme(textme_inputs).curve
