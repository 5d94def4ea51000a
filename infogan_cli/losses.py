"""Adversarial and mutual-information losses: pure functions of tensors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import LatentSpec
from .latent import LatentBatch
from .models import QOutput

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Bound the learned log-std: a collapsing std would make the NLL (and its gradients) explode.
# The bound applies to the value only; its gradient passes straight through, because a plain
# clamp has zero gradient outside the bounds: a Q head whose log-std overshot 2 could never
# bring it back, and that code's MI stayed at its floor for the rest of the run.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy on logits against an all-real or all-fake target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Elementwise -log N(x; mean, exp(log_std)^2)."""
    log_std = log_std + (log_std.clamp(LOG_STD_MIN, LOG_STD_MAX) - log_std).detach()
    return HALF_LOG_2PI + log_std + 0.5 * ((x - mean) * torch.exp(-log_std)) ** 2


def categorical_code_losses(q: QOutput, latent: LatentBatch) -> list[torch.Tensor]:
    """Cross-entropy of each categorical code: an upper bound on H(c_i | G(z, c))."""
    return [F.cross_entropy(logits, codes) for logits, codes in zip(q.categorical_logits, latent.categorical)]


def continuous_code_losses(q: QOutput, latent: LatentBatch, kind: str) -> list[torch.Tensor]:
    """Per continuous code: Gaussian NLL with the learned std, or MSE ("fixed std")."""
    if latent.continuous.shape[1] == 0:
        return []
    if kind == "gaussian":
        per_element = gaussian_nll(latent.continuous, q.continuous_mean, q.continuous_log_std)
    else:
        per_element = (latent.continuous - q.continuous_mean) ** 2
    return list(per_element.mean(dim=0).unbind())


def mutual_information_loss(
    q: QOutput,
    latent: LatentBatch,
    lambda_cat: float,
    lambda_cont: float,
    continuous_kind: str,
    lambda_cont_ratio: float = 1.0,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """lambda_cat * sum CE + sum_j lambda_cont * lambda_cont_ratio**j * NLL_j over the continuous
    codes j = 0, 1, ...; also the per-code terms (c1..cN order)."""
    per_code = categorical_code_losses(q, latent) + continuous_code_losses(q, latent, continuous_kind)
    n_cat = len(latent.categorical)
    total = latent.noise.new_zeros(())
    for i, term in enumerate(per_code):
        weight = lambda_cat if i < n_cat else lambda_cont * lambda_cont_ratio ** (i - n_cat)
        total = total + weight * term
    return total, per_code


def real_information(q: QOutput) -> torch.Tensor:
    """I(x; c_hat) on a batch of real images, summed over categorical codes (nats).

    H(mean_x Q(c|x)) - mean_x H(Q(c|x)): high when Q spreads the real images over a code's values
    as evenly as the uniform prior does, and assigns each one confidently (the information-
    maximising clustering objective of Krause et al. 2010, IMSAT's without augmentation). A merge
    of two digits lowers the first part only if no split elsewhere evens the marginal out again.
    """
    total = q.continuous_mean.new_zeros((), dtype=torch.float32)
    for logits in q.categorical_logits:
        total = total + categorical_information(logits)
    return total


def categorical_information(logits: torch.Tensor) -> torch.Tensor:
    """H(mean_x Q(c|x)) - mean_x H(Q(c|x)) of one categorical code over a batch (nats, <= ln K)."""
    log_p = F.log_softmax(logits.float(), dim=1)
    p = log_p.exp()
    marginal = p.mean(dim=0)
    marginal_entropy = -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()
    conditional_entropy = -(p * log_p).sum(dim=1).mean()
    return marginal_entropy - conditional_entropy


def mutual_information_estimates(spec: LatentSpec, per_code: list[float], continuous_kind: str) -> list[float]:
    """Variational lower bound H(c) - E[-log Q(c|x)] per code, in nats.

    Under the mse loss Q outputs no std; the bound is taken for the Gaussian around Q's mean whose
    std is the batch's RMS error, the fixed std that fits best: E[-log Q] = 0.5 ln(2 pi e MSE).
    That std is floored at exp(LOG_STD_MIN), as the learned one is, so a perfect read stays finite.
    """
    estimates: list[float] = []
    for i, loss in enumerate(per_code):
        if i < len(spec.categorical):
            estimates.append(math.log(spec.categorical[i]) - loss)
        elif continuous_kind == "gaussian":
            estimates.append(spec.continuous_entropy() - loss)
        else:
            # gaussian_nll's value where the error is one std: HALF_LOG_2PI + log_std + 0.5.
            log_std = max(0.5 * math.log(loss), LOG_STD_MIN) if loss > 0 else LOG_STD_MIN
            estimates.append(spec.continuous_entropy() - (HALF_LOG_2PI + log_std + 0.5))
    return estimates


def contrastive_loss(logits: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """InfoGAN-CR: cross-entropy of the guess (logits (P, n_codes)) of which code each pair shares."""
    return F.cross_entropy(logits.float(), shared)


def categorical_consistency(clean: QOutput, moved: QOutput) -> torch.Tensor:
    """KL(Q(c|x) || Q(c|T(x))) per image, averaged, summed over categorical codes (nats).

    The clean prediction is the target (no gradient), so the loss moves Q's answer on the
    transformed image towards its answer on the original one. Zero when they agree.
    """
    total = clean.continuous_mean.new_zeros((), dtype=torch.float32)
    for clean_logits, moved_logits in zip(clean.categorical_logits, moved.categorical_logits):
        target = F.log_softmax(clean_logits.detach().float(), dim=1)
        total = total + F.kl_div(F.log_softmax(moved_logits.float(), dim=1), target, reduction="batchmean", log_target=True)
    return total
