"""What ``infogan train --help`` shows as each option's default, derived from the config
dataclasses and the presets (one source of truth); docs/cli.md is checked against it."""

from __future__ import annotations

import dataclasses
import functools

from infogan_cli.config import (
    DEFAULT_PRESET,
    FOLDER_CHANNELS,
    FOLDER_IMAGE_SIZE,
    PRESETS,
    LatentSpec,
    ModelConfig,
    TrainConfig,
    build_train_config,
    field_value,
    shown_value,
)

# What a default of None means, for the options that have one.
NONE_MEANS = {
    "max_steps": "none: all of --epochs",
    "image_size": f"the dataset's; folders {FOLDER_IMAGE_SIZE}",
    "channels": f"the dataset's; folders {FOLDER_CHANNELS}",
}


def option_field(option: str) -> str | None:
    """The config field an option of ``infogan train`` sets (its parameter name: "noise_dim" ->
    "latent.noise_dim"), or None for options that are not config fields (--out, --resume)."""
    for prefix, cls in (("", TrainConfig), ("latent.", LatentSpec), ("model.", ModelConfig)):
        if option in {f.name for f in dataclasses.fields(cls)} - {"latent", "model"}:
            return prefix + option
    return None


def shown_default(option: str) -> str:
    """The default ``infogan train --help`` shows for an option, from the config and the presets
    (one source of truth): "128; --preset tutorial: 64"."""
    name = option_field(option)
    if name is None:
        raise KeyError(f"{option} is not a config field")

    def shown(preset: str) -> str:
        value = field_value(_preset_config(preset), name)
        return NONE_MEANS[option] if value is None else shown_value(value)

    default = shown(DEFAULT_PRESET)
    others: dict[str, list[str]] = {}
    for preset in PRESETS:
        if shown(preset) != default:
            others.setdefault(shown(preset), []).append(preset)
    return "; ".join([default, *(f"--preset {' or '.join(presets)}: {value}" for value, presets in others.items())])


@functools.cache
def _preset_config(preset: str) -> TrainConfig:
    return build_train_config(preset)
