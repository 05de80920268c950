"""Which layers a host lacks, and the partial archive that carries only those."""

import hashlib
import io
import json
import os
import tarfile

import pytest

from onehost.commands import image_layers
from onehost.commands.image_layers import LayerPlan, chain_ids, host_chain_ids, plan_layers
from onehost.local import image_archive
from onehost.local.image_archive import write_partial_archive

A, B, C = (f"sha256:{letter * 64}" for letter in "abc")


def sha(text: str) -> str:
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def test_chain_ids_follow_the_oci_rule():
    ab = sha(f"{A} {B}")
    assert chain_ids([A, B, C]) == [A, ab, sha(f"{ab} {C}")]


def test_the_same_diff_on_another_base_is_another_layer():
    assert chain_ids([A, C])[1] != chain_ids([B, C])[1]


def test_host_chain_ids_from_every_image_on_the_host():
    lines = ['store [["Backing Filesystem","extfs"],["Supports d_type","true"]]', f"{A} {B} ", f"{C} "]
    assert host_chain_ids(lines) == frozenset({A, sha(f"{A} {B}"), C})


def test_a_containerd_image_store_gets_whole_archives():
    lines = ['store [["driver-type","io.containerd.snapshotter.v1"]]', f"{A} {B}"]
    assert host_chain_ids(lines) is None
    assert plan_layers([A, B], None) == LayerPlan((0, 1), 2)


def test_a_host_without_docker_yet_has_no_layers():
    assert host_chain_ids([]) == frozenset()
    assert not plan_layers([A, B], frozenset()).partial


def test_only_the_layers_above_what_the_host_has_are_sent():
    host = host_chain_ids([f"{A} {B}"])
    plan = plan_layers([A, B, C], host)
    assert plan == LayerPlan((2,), 3) and plan.partial
    # B over another base is not on the host.
    assert plan_layers([C, B], host).send == (0, 1)


def test_load_partial_image_loads_tags_and_saves_a_whole_archive_on_the_host():
    assert image_layers.load_partial_image("/data/images/x.tar.layers", "/data/images/x.tar", "sha256:1",
                                           "app:id-1") == [
        "sh", "-c",
        'set -e; docker load --quiet --input "$1"; docker tag "$2" "$3"; rm -f "$1"; '
        'docker save --output "$4.partial" "$2"; mv "$4.partial" "$4"',
        "load-partial-image", "/data/images/x.tar.layers", "sha256:1", "app:id-1", "/data/images/x.tar"]


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("layers", [["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"],
                                    ["blobs/sha256/1", "blobs/sha256/2", "blobs/sha256/3"]])
def test_the_partial_archive_blanks_the_layers_the_host_has(tmp_path, layers):
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "manifest.json", json.dumps([{"Config": "config.json", "Layers": layers}]).encode())
        add(tar, "config.json", b"{}")
        for index, name in enumerate(layers):
            add(tar, name, bytes([index]) * 100_000)
    size = write_partial_archive(archive, tmp_path / "partial.tar", LayerPlan((2,), 3))
    with tarfile.open(tmp_path / "partial.tar") as tar:
        sizes = {member.name: member.size for member in tar}
        assert tar.extractfile(layers[2]).read() == bytes([2]) * 100_000
    assert sizes == {"manifest.json": sizes["manifest.json"], "config.json": 2,
                     layers[0]: 0, layers[1]: 0, layers[2]: 100_000}
    assert size < 120_000
    assert not (tmp_path / "partial.partial").exists()


def test_an_archive_that_does_not_match_the_image_is_refused(tmp_path):
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["a/layer.tar"]}]).encode())
    with pytest.raises(ValueError, match="has 1 layers; the image has 2"):
        write_partial_archive(archive, tmp_path / "partial.tar", LayerPlan((1,), 2))


def test_only_the_most_recently_used_archives_are_kept_with_their_partial_archives(tmp_path):
    for age, name in enumerate(["new", "used", "old", "older"]):
        for path in (tmp_path / f"{name}.tar", tmp_path / f"{name}-onehost-test.partial-layers.tar"):
            path.write_bytes(b"x")
            os.utime(path, (1_000_000 - age, 1_000_000 - age))
    removed = image_archive.prune_archives(tmp_path, keep=2)
    assert sorted(path.name for path in removed) == [
        "old-onehost-test.partial-layers.tar", "old.tar", "older-onehost-test.partial-layers.tar", "older.tar"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "new-onehost-test.partial-layers.tar", "new.tar", "used-onehost-test.partial-layers.tar", "used.tar"]
