"""Generator and Discriminator (a shared trunk with a D head and a Q head).

Two architectures, both scaled by ``ModelConfig.width`` and adding one up/down-sampling stage
per doubling of the image size (DCGAN-style):

- ``paper``: the InfoGAN appendix for MNIST. G: FC1024-FC(7x7x2w)-upconv w-upconv C;
  D trunk: conv w-conv 2w-FC1024 (leaky ReLU 0.1, batch norm); Q: FC128 on the trunk features.
- ``tutorial``: the Keras tutorial in ``shared/seed``. G: FC(7x7x8w)-conv 2w-upconv w-upconv C;
  D trunk: conv w-conv 2w-conv 4w, flattened; Q: FC128.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .config import LatentSpec, ModelConfig


def sampling_stages(image_size: int) -> int:
    """Up/down-sampling stages: 2 for 28 and 32 px (7x7 or 8x8 base), one more per doubling."""
    return 2 if image_size <= 32 else 2 + int(math.log2(image_size // 32))


def base_size(image_size: int) -> int:
    return image_size // 2 ** sampling_stages(image_size)


class QOutput(NamedTuple):
    """The Q head's prediction of the codes from an image. A NamedTuple so that DDP finds the
    tensors in forward()'s output (it does not look inside dataclasses)."""

    categorical_logits: list[torch.Tensor]  # each (B, K_i)
    continuous_mean: torch.Tensor  # (B, n_continuous)
    continuous_log_std: torch.Tensor  # (B, n_continuous)

    def head(self, n: int) -> QOutput:
        """The predictions for the first ``n`` images (views, no copy)."""
        return QOutput([logits[:n] for logits in self.categorical_logits], self.continuous_mean[:n], self.continuous_log_std[:n])


class Generator(nn.Module):
    def __init__(self, latent: LatentSpec, config: ModelConfig) -> None:
        super().__init__()
        self.latent = latent
        self.config = config
        stages = sampling_stages(config.image_size)
        self.base = base_size(config.image_size)
        w = config.width
        if config.architecture == "paper":
            self.base_channels = w * 2 ** (stages - 1)
            self.fc = nn.Sequential(
                nn.Linear(latent.input_dim, config.hidden, bias=False),
                nn.BatchNorm1d(config.hidden),
                nn.ReLU(inplace=True),
                nn.Linear(config.hidden, self.base_channels * self.base**2, bias=False),
                nn.BatchNorm1d(self.base_channels * self.base**2),
                nn.ReLU(inplace=True),
            )
            convs: list[nn.Module] = []
            channels = self.base_channels
        else:
            # Keras order in the tutorial: activation, then batch norm.
            self.base_channels = w * 8
            self.fc = nn.Sequential(
                nn.Linear(latent.input_dim, self.base_channels * self.base**2),
                nn.ReLU(inplace=True),
                nn.BatchNorm1d(self.base_channels * self.base**2),
            )
            channels = w * 2 ** (stages - 1)
            convs = [
                *same_conv(self.base_channels, channels),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(channels),
            ]
        for _ in range(stages - 1):
            convs += [
                nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        convs += [nn.ConvTranspose2d(channels, config.channels, 4, stride=2, padding=1), nn.Tanh()]
        self.convs = nn.Sequential(*convs)
        init_weights(self)

    def forward(self, latent_input: torch.Tensor) -> torch.Tensor:
        x = self.fc(latent_input)  # (B, C0 * base * base)
        x = x.view(-1, self.base_channels, self.base, self.base)  # (B, C0, 7, 7) for MNIST
        return self.convs(x)  # (B, channels, image_size, image_size) in [-1, 1]


class Discriminator(nn.Module):
    """Shared trunk -> D head (one real/fake logit) and Q head (code predictions)."""

    def __init__(self, latent: LatentSpec, config: ModelConfig) -> None:
        super().__init__()
        self.latent = latent
        self.config = config
        stages = sampling_stages(config.image_size)
        base = base_size(config.image_size)
        w = config.width
        act = lambda: nn.LeakyReLU(0.1, inplace=True)  # noqa: E731
        layers, channels = strided_convs(config.channels, w, stages)
        if config.architecture == "paper":
            layers += [
                nn.Flatten(),
                nn.Linear(channels * base**2, config.hidden, bias=False),
                nn.BatchNorm1d(config.hidden),
                act(),
            ]
            self.feature_dim = config.hidden
        else:
            layers += [*same_conv(channels, channels * 2), act()]
            layers += [nn.BatchNorm2d(channels * 2), nn.Flatten()]
            self.feature_dim = channels * 2 * base**2
        self.trunk = nn.Sequential(*layers)
        self.d_head = nn.Linear(self.feature_dim, 1)
        # "own": the continuous codes are read by an encoder of their own, which neither the D
        # loss nor the consistency loss trains (that loss makes the trunk ignore rotation,
        # shear and stretch, the slant and width the continuous codes should carry).
        self.own_continuous = config.continuous_encoder == "own" and latent.continuous > 0
        n_outputs = sum(latent.categorical) + (0 if self.own_continuous else 2 * latent.continuous)
        self.q_head = q_mlp(self.feature_dim, config.q_hidden, n_outputs)
        if self.own_continuous:
            self.continuous_trunk, encoder_dim = half_width_encoder(config.channels, config)
            self.continuous_head = q_mlp(encoder_dim, config.q_hidden, 2 * latent.continuous)
        init_weights(self)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)  # (B, feature_dim)

    def discriminate(self, features: torch.Tensor) -> torch.Tensor:
        return self.d_head(features).squeeze(1)  # (B,) real/fake logits

    def q_parameters(self) -> list[nn.Parameter]:
        """What the G+Q step trains on this side: the Q head (and the continuous encoder)."""
        modules = [self.q_head, *((self.continuous_trunk, self.continuous_head) if self.own_continuous else ())]
        return [p for module in modules for p in module.parameters()]

    def predict_codes(self, features: torch.Tensor, images: torch.Tensor) -> QOutput:
        """Q's prediction of the codes from the trunk's ``features`` of ``images``."""
        continuous_features = self.continuous_trunk(images) if self.own_continuous else None
        # Under bf16 autocast the Q head still runs in fp32: in bf16 it cost about a point of
        # code-to-digit accuracy, in fp32 none, at bf16's speed (docs/study.md). In fp32 a no-op.
        with torch.autocast(features.device.type, enabled=False):
            out = self.q_head(features.float())  # (B, sum(K) [+ 2 * n_continuous when shared])
            if continuous_features is not None:
                out = torch.cat([out, self.continuous_head(continuous_features.float())], dim=1)
        start = sum(self.latent.categorical)
        logits = list(torch.split(out[:, :start], list(self.latent.categorical), dim=1))
        n = self.latent.continuous
        mean = out[:, start : start + n]
        log_std = out[:, start + n : start + 2 * n]
        return QOutput(logits, mean, log_std)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, QOutput]:
        features = self.features(images)
        return self.discriminate(features), self.predict_codes(features, images)


class ContrastiveClassifier(nn.Module):
    """InfoGAN-CR's contrastive regulariser (Lin et al., ICML 2020). Shown two generated images
    that share the value of one code (everything else drawn apart), it guesses which code; G is
    trained to make the guess easy, so each code must leave a mark of its own, one no other code
    makes: a slant code that also widens the digit is harder to tell from a width code. A
    training-only network, outside the discriminator: sample, evaluate and the rest never load it."""

    def __init__(self, latent: LatentSpec, config: ModelConfig) -> None:
        super().__init__()
        # The pair as one image of 2C channels: about the own continuous encoder's cost.
        self.body, features = half_width_encoder(2 * config.channels, config)
        self.head = q_mlp(features, config.q_hidden, len(latent.code_names))
        init_weights(self)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([first, second], dim=1)))  # (P, n_codes) logits


def q_mlp(in_features: int, hidden: int, outputs: int) -> nn.Sequential:
    """The paper's Q head: FC ``hidden`` with batch norm and leaky ReLU, then the code outputs."""
    return nn.Sequential(
        nn.Linear(in_features, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Linear(hidden, max(outputs, 1)),
    )


def half_width_encoder(in_channels: int, config: ModelConfig) -> tuple[nn.Sequential, int]:
    """The trunk's strided convs at half its channels, flattened, and no FC1024: about a sixth of
    the trunk's work. The own continuous encoder and InfoGAN-CR's guesser read images with it.
    Returns the encoder and its feature size."""
    convs, channels = strided_convs(in_channels, max(config.width // 2, 1), sampling_stages(config.image_size))
    return nn.Sequential(*convs, nn.Flatten()), channels * base_size(config.image_size) ** 2


def strided_convs(in_channels: int, width: int, stages: int) -> tuple[list[nn.Module], int]:
    """How the discriminator's trunk (and the own continuous encoder) starts: a stride-2 conv to
    ``width`` channels, then one doubling the channels (batch norm, leaky ReLU 0.1) per further
    stage. Returns the layers and their output channels."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True)]
    channels = width
    for _ in range(stages - 1):
        layers += [
            nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels * 2),
            nn.LeakyReLU(0.1, inplace=True),
        ]
        channels *= 2
    return layers, channels


def same_conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    """A 4x4 stride-1 conv with Keras "same" padding: 1 pixel before, 2 after (even kernel)."""
    return [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(in_channels, out_channels, 4)]


def init_weights(module: nn.Module) -> None:
    """DCGAN / InfoGAN initialisation: weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(latent: LatentSpec, config: ModelConfig) -> tuple[Generator, Discriminator]:
    return Generator(latent, config), Discriminator(latent, config)
