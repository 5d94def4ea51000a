"""Beyond MNIST: RGB image folders at 32 and 64 px, conversions, several categorical codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_cli.data import adapt, fake_dataset, load_dataset
from infogan_cli.errors import DataError
from infogan_cli.folder import ImageFolder
from infogan_cli.infogan import InfoGAN
from infogan_cli.trainer import StepLogged, train
from tests.conftest import tiny_config


def make_folder(root, n=24, corrupt=0):
    """Mixed sizes and modes (RGB, L, RGBA, P; PNG and JPEG), some in a subfolder."""
    rng = np.random.default_rng(0)
    (root / "nested").mkdir(parents=True)
    for i in range(n):
        width, height = int(rng.integers(30, 90)), int(rng.integers(30, 90))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        jpeg = i % 3 == 0
        mode = ["RGB", "L"][i % 2] if jpeg else ["RGB", "L", "RGBA", "P"][i % 4]
        folder = root / "nested" if i % 2 else root
        Image.fromarray(pixels).convert(mode).save(folder / f"image{i}.{'jpg' if jpeg else 'png'}")
    for i in range(corrupt):
        (root / f"broken{i}.png").write_bytes(b"not an image at all")
    (root / "notes.txt").write_text("ignored")
    return root


def test_folder_images_are_resized_cropped_and_converted(tmp_path):
    folder = ImageFolder(make_folder(tmp_path / "imgs", corrupt=2), image_size=32, channels=3)
    assert len(folder) == 24 and len(folder.skipped) == 2
    shapes = {tuple(folder[i].shape) for i in range(len(folder))}
    assert shapes == {(3, 32, 32)}
    assert folder[0].dtype == torch.uint8
    grey = ImageFolder(tmp_path / "imgs", image_size=64, channels=1)
    assert tuple(grey[1].shape) == (1, 64, 64)


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no readable PNG or JPEG images"):
        ImageFolder(tmp_path / "empty", 32, 3)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


@pytest.mark.parametrize("image_size", [32, 64])
def test_rgb_folder_trains_samples_and_traverses(tmp_path, cli, image_size):
    make_folder(tmp_path / "imgs", corrupt=1)
    config = tiny_config(dataset=f"folder:{tmp_path / 'imgs'}", image_size=image_size, channels=3, batch_size=8, max_steps=3, workers=0)
    events = list(train(config, tmp_path / "run"))
    assert events[-1].step == 3
    assert any("skipped 1 unreadable" in w for w in events[0].warnings)
    model = InfoGAN.load(tmp_path / "run" / "last.safetensors")
    assert (model.config.model.image_size, model.config.model.channels) == (image_size, 3)
    assert model.generate(n=2).shape == (2, 3, image_size, image_size)
    result = cli("sample", str(tmp_path / "run" / "last.safetensors"), "--n", "4", "--out", str(tmp_path / "s.png"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "s.png").mode == "RGB"
    result = cli("traverse", str(tmp_path / "run" / "last.safetensors"), "--out", str(tmp_path / "trav"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "trav").glob("*.png")) == ["c1.png", "c2.png", "c3.png"]


def test_several_categorical_codes_train(tmp_path):
    from infogan_cli.config import LatentSpec

    config = tiny_config(latent=LatentSpec(noise_dim=4, categorical=(10, 4, 2), continuous=3), max_steps=3)
    events = list(train(config, tmp_path))
    logged = [e for e in events if isinstance(e, StepLogged)]
    assert set(logged[-1].metrics["mi"]) == {"c1", "c2", "c3", "c4", "c5", "c6"}
    model = InfoGAN.load(tmp_path / "last.safetensors")
    q = model.predict_codes(model.generate(n=5, codes={"c2": 3, "c3": 1}))
    assert [t.shape for t in q.categorical_logits] == [(5, 10), (5, 4), (5, 2)]
    assert q.continuous_mean.shape == (5, 3)


def test_adapt_resizes_and_converts():
    data = fake_dataset(8)
    rgb = adapt(data, 64, 3)
    assert rgb.images.shape == (8, 3, 64, 64)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 1])  # grey copied to each channel
    back = adapt(rgb, 28, 1)
    assert back.images.shape == (8, 1, 28, 28)
    assert (back.images.float() - data.images.float()).abs().mean() < 20  # up and down again: close


def test_fashion_mnist_from_debian_package_or_skip():
    from infogan_cli.data import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("apt-get install dataset-fashion-mnist to run this")
    data = load_dataset("fashion-mnist", "/nonexistent", train=False)
    assert data.images.shape == (10000, 1, 28, 28) and data.labels.max() == 9


def small_images(root, n, size=8):
    root.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


def test_every_rank_takes_the_same_steps_through_a_folder(tmp_path):
    # 63 images, 2 ranks, batches of 16: rank 0's shard holds 32 images, rank 1's 31. Both must
    # take steps_per_epoch (1) steps, or the rank with the extra batch waits forever in DDP.
    from infogan_cli.config import ModelConfig
    from infogan_cli.runtime import DistributedContext
    from infogan_cli.trainer import Trainer

    data = ImageFolder(small_images(tmp_path / "imgs", 63), image_size=32, channels=1)
    config = tiny_config(dataset=f"folder:{tmp_path / 'imgs'}", model=ModelConfig(width=4, hidden=16, q_hidden=8, image_size=32), workers=0)
    for rank in (0, 1):
        trainer = Trainer(config, tmp_path / "run", data, torch.device("cpu"), DistributedContext(rank, 2))
        assert trainer.steps_per_epoch == 1
        assert [tuple(b.shape) for b in trainer.batches(0, 0)] == [(16, 1, 32, 32)], f"rank {rank}"
        assert list(trainer.batches(0, 1)) == []  # resuming at the epoch's end: nothing left


def undecodable_images(root):
    """Three files whose header reads but whose data does not decode: a PNG and a JPEG cut short (an
    interrupted download) and a PNG whose compressed data is damaged."""
    import io
    import zlib

    pixels = np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    encoded = {}
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        encoded[fmt] = buffer.getvalue()
    (root / "cut.png").write_bytes(encoded["PNG"][: len(encoded["PNG"]) // 2])
    (root / "cut.jpg").write_bytes(encoded["JPEG"][: len(encoded["JPEG"]) // 2])
    png = bytearray(encoded["PNG"])
    data = png.index(b"IDAT") + 4  # the chunk's data: a zlib stream
    png[data : data + 2] = b"\x00\x00"  # not a zlib header
    chunk_end = data + int.from_bytes(png[data - 8 : data - 4], "big")
    png[chunk_end : chunk_end + 4] = zlib.crc32(bytes(png[data - 4 : chunk_end])).to_bytes(4, "big")  # a valid CRC
    (root / "damaged.png").write_bytes(bytes(png))
    return ["cut.jpg", "cut.png", "damaged.png"]


def test_images_that_do_not_decode_are_skipped_and_counted(tmp_path):
    root = make_folder(tmp_path / "imgs", corrupt=1)
    broken = undecodable_images(root)
    folder = ImageFolder(root, image_size=32, channels=3)
    assert len(folder) == 24  # not a black training image among them
    assert sorted(p.name for p in folder.skipped) == sorted(["broken0.png", *broken])
    for index in range(len(folder)):
        assert folder[index].float().std() > 10  # decoded pixels (random noise), not a black fill
    config = tiny_config(dataset=f"folder:{root}", image_size=32, channels=3, batch_size=8, max_steps=1, workers=0)
    events = list(train(config, tmp_path / "run"))
    assert any("skipped 4 unreadable" in w for w in events[0].warnings)


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_broken_during_the_run_stops_it_with_its_name(tmp_path, workers):
    from infogan_cli.folder import folder_batches

    folder = ImageFolder(small_images(tmp_path / "imgs", 16), image_size=32, channels=1)
    victim = folder.paths[5]
    victim.write_bytes(victim.read_bytes()[:60])  # cut after the scan at start-up
    with pytest.raises(DataError, match=f"cannot decode {victim}") as info:
        list(folder_batches(folder, torch.arange(16), 8, 0, 2, workers, torch.device("cpu")))
    assert "Traceback" not in info.value.message
