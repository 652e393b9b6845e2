"""Knowledge distillation loss (Hinton et al., 2015)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from autoedge.errors import CompressionError


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    *,
    temperature: float,
    alpha: float,
) -> Tensor:
    """Hinton KD: ``alpha * T^2 * KL(p_teacher || p_student) + (1 - alpha) * CE(student)``.

    Both distributions are softened by `temperature`; the KL term is averaged over the batch
    and scaled by ``T^2`` so its gradient stays comparable across temperatures. The teacher
    logits are detached: no gradient reaches the teacher.
    """
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise CompressionError(f"temperature is {temperature!r}; use a finite number > 0")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise CompressionError(f"alpha is {alpha!r}; use a number in [0, 1]")
    if student_logits.shape != teacher_logits.shape or student_logits.dim() < 2:
        raise CompressionError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must share one (batch, classes, ...) shape"
        )
    t = float(temperature)
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits.detach() / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student_logits, targets)
    return alpha * t * t * soft + (1.0 - alpha) * hard
