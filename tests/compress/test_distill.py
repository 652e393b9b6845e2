"""Tests for the Hinton knowledge-distillation loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet

from autoedge.compress.distill import kd_loss
from autoedge.errors import CompressionError


def logits(seed: int, n: int = 8, c: int = 10) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed)) * 2


def soft_grad_norm(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> float:
    s = student.clone().requires_grad_(True)
    targets = torch.zeros(len(s), dtype=torch.long)
    kd_loss(s, teacher, targets, temperature=temperature, alpha=1.0).backward()
    assert s.grad is not None
    return s.grad.norm().item()


def test_alpha_zero_is_plain_cross_entropy() -> None:
    s, t = logits(0), logits(1)
    y = torch.arange(8) % 10
    assert torch.equal(kd_loss(s, t, y, temperature=4.0, alpha=0.0), F.cross_entropy(s, y))


def test_identical_logits_give_zero_soft_term() -> None:
    s = logits(2)
    y = torch.arange(8) % 10
    assert kd_loss(s, s.clone(), y, temperature=3.0, alpha=1.0).item() == pytest.approx(
        0.0, abs=1e-6
    )
    half = kd_loss(s, s.clone(), y, temperature=3.0, alpha=0.5)
    assert half.item() == pytest.approx(0.5 * F.cross_entropy(s, y).item(), rel=1e-5)


def test_matches_the_hinton_formula() -> None:
    s, t = logits(3), logits(4)
    y = torch.arange(8) % 10
    temp, alpha = 2.5, 0.7
    p_t = F.softmax(t / temp, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / temp, dim=1))).sum() / len(s)
    want = alpha * temp**2 * kl + (1 - alpha) * F.cross_entropy(s, y)
    got = kd_loss(s, t, y, temperature=temp, alpha=alpha)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert kl.item() > 0.1  # the check above is not trivially 0 == 0


def test_t_squared_keeps_soft_gradient_comparable_across_temperatures() -> None:
    s, t = logits(5), logits(6)
    g4, g8 = soft_grad_norm(s, t, 4.0), soft_grad_norm(s, t, 8.0)
    assert 0.5 <= g4 / g8 <= 2.0
    # Without the T^2 factor the gradient would shrink by about 4x from T=4 to T=8.
    assert (g4 / 16) / (g8 / 64) > 3.0


def tiny_effnet() -> EfficientNet:
    # decode afresh per model: the builder consumes the decoded block dicts.
    arch = decode_arch_def([["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e4_c24_se0.25"]])
    return EfficientNet(block_args=arch, num_classes=10, in_chans=1, stem_size=16, num_features=64)


def test_loss_is_differentiable_for_student_only() -> None:
    torch.manual_seed(0)
    student, teacher = tiny_effnet(), tiny_effnet()
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([1, 2, 3, 4])
    loss = kd_loss(student(x), teacher(x), y, temperature=4.0, alpha=0.9)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in student.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum().item() for g in grads if g is not None) > 0
    assert all(p.grad is None for p in teacher.parameters())


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_raises(temperature: float) -> None:
    with pytest.raises(CompressionError, match="temperature"):
        kd_loss(
            logits(0),
            logits(1),
            torch.zeros(8, dtype=torch.long),
            temperature=temperature,
            alpha=0.5,
        )


@pytest.mark.parametrize("alpha", [-0.1, 1.1, float("nan")])
def test_bad_alpha_raises(alpha: float) -> None:
    with pytest.raises(CompressionError, match="alpha"):
        kd_loss(
            logits(0), logits(1), torch.zeros(8, dtype=torch.long), temperature=2.0, alpha=alpha
        )


def test_mismatched_logits_raise() -> None:
    with pytest.raises(CompressionError, match="shape"):
        kd_loss(
            logits(0), logits(1, c=5), torch.zeros(8, dtype=torch.long), temperature=2.0, alpha=0.5
        )
