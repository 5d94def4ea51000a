"""One safetensors header reader (``checkpoint.read_header``, on safetensors' ``safe_open``) for
checkpoints, `infogan inspect` and the reference classifier: crafted headers are refused by all
three with one message, before any tensor is read."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from infogan_cli.checkpoint import load_checkpoint, read_header, save_checkpoint
from infogan_cli.classifier import load_classifier
from infogan_cli.errors import CheckpointError
from infogan_cli.models import build_models
from infogan_cli.summary import TensorInfo, summarize_checkpoint
from tests.conftest import tiny_config


def safetensors_bytes(header: object, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    config = tiny_config()
    generator, discriminator = build_models(config.latent, config.model)
    path = tmp_path_factory.mktemp("good") / "good.safetensors"
    return save_checkpoint(path, config=config, generator=generator, discriminator=discriminator, step=3, epoch=1)


READERS = {
    "checkpoint": (load_checkpoint, "checkpoint"),
    "inspect": (summarize_checkpoint, "checkpoint"),
    "classifier": (load_classifier, "classifier"),
}

CRAFTED = {
    "header is a list": (safetensors_bytes([1, 2]), "not a safetensors {kind}"),
    "metadata not strings": (safetensors_bytes({"__metadata__": {"step": 3}}), "not a safetensors {kind}"),
    "unknown dtype": (safetensors_bytes({"a": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)), "not a safetensors {kind}"),
    "negative size": (safetensors_bytes({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)), "not a safetensors {kind}"),
    "shape and bytes disagree": (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)), "not a safetensors {kind}"),
    "tensor past the end": (safetensors_bytes({"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}, bytes(4)), "truncated"),
    "absurd header length": (struct.pack("<Q", 10**12) + b"{}", "not a safetensors {kind}"),
    "seven bytes": (b"\x02\0\0\0\0\0\0", "too short"),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_headers_are_refused_by_every_reader(tmp_path, reader, case) -> None:
    read, kind = READERS[reader]
    content, message = CRAFTED[case]
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message.format(kind=kind)) as info:
        read(path)
    assert str(path) in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("reader", READERS)
def test_bytes_appended_to_a_good_file_are_refused(tmp_path, good, reader) -> None:
    path = tmp_path / "appended.safetensors"
    path.write_bytes(good.read_bytes() + b"\0" * 16)  # the old hand-written reader let this through
    with pytest.raises(CheckpointError, match="truncated \\(or has bytes appended\\)"):
        READERS[reader][0](path)


@pytest.mark.parametrize("reader", READERS)
def test_missing_empty_and_folder(tmp_path, reader) -> None:
    read, kind = READERS[reader]
    with pytest.raises(CheckpointError, match=f"{kind} .* does not exist"):
        read(tmp_path / "none.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"{kind} .* is empty"):
        read(tmp_path / "empty.safetensors")
    with pytest.raises(CheckpointError, match=f"is a folder, not a {kind}"):
        read(tmp_path)


def test_read_header_gives_metadata_shapes_and_dtypes(good) -> None:
    metadata, shapes = read_header(good)
    assert metadata["format"] == "infogan-checkpoint" and metadata["step"] == "3"
    state = build_models(tiny_config().latent, tiny_config().model)[0].state_dict()
    for name, tensor in state.items():
        shape, dtype = shapes[f"generator.{name}"]
        assert shape == list(tensor.shape)
        assert dtype == {torch.float32: "F32", torch.int64: "I64"}[tensor.dtype]


def test_tensor_sizes_from_dtype_bits() -> None:
    assert TensorInfo("generator.w", (3, 5), "BF16").bytes == 30
    assert TensorInfo("generator.w", (3,), "F4").bytes == 2  # two 4-bit elements per byte, rounded up
    assert TensorInfo("generator.w", (4,), "F6_E2M3").bytes == 3
    assert TensorInfo("rng.cpu", (16,), "U8").bytes == 16 and TensorInfo("x", (2, 0), "F64").bytes == 0
