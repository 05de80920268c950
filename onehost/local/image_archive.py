"""Writing the partial `docker save` archive that carries only the layers a host lacks
(onehost.commands.image_layers says which, and why `docker load` accepts it)."""

import json
import tarfile
from pathlib import Path

from onehost.commands.image_layers import LayerPlan

MANIFEST = "manifest.json"


def write_partial_archive(archive: Path, dest: Path, plan: LayerPlan) -> int:
    """Copy a `docker save` archive to dest with the layers the host has as empty files.

    Works for both of `docker save`'s layouts (legacy `<id>/layer.tar` and the OCI
    `blobs/sha256/<digest>` of Docker 25 and later): the layers are found through manifest.json.
    Returns the size of dest in bytes."""
    with tarfile.open(archive) as source:
        manifest = json.load(source.extractfile(MANIFEST))
        if len(manifest) != 1:
            raise ValueError(f"{archive} holds {len(manifest)} images; one was expected")
        layers = manifest[0]["Layers"]
        if len(layers) != plan.total:
            raise ValueError(f"{archive} has {len(layers)} layers; the image has {plan.total}")
        kept = {layers[index] for index in plan.send}
        blanked = set(layers) - kept
        partial = dest.with_suffix(".partial")
        with tarfile.open(partial, "w") as out:
            for member in source:
                if member.name in blanked:
                    empty = tarfile.TarInfo(member.name)
                    empty.mode, empty.mtime = member.mode, member.mtime
                    out.addfile(empty)
                elif member.isfile():
                    out.addfile(member, source.extractfile(member))
                else:
                    out.addfile(member)
    partial.rename(dest)
    return dest.stat().st_size


# `docker save` archives kept on this machine (about 200 MB each for the example app): the ones
# the last few deploys used. An older image that is deployed again is saved again.
ARCHIVES_KEPT = 6


def prune_archives(directory: Path, keep: int = ARCHIVES_KEPT) -> list[Path]:
    """Remove all but the `keep` most recently used archives (their mtime: save_archive touches an
    archive it reuses), with the partial archives made from them; return what was removed."""
    archives = sorted((path for path in directory.glob("*.tar") if ".partial-layers" not in path.name),
                      key=lambda path: path.stat().st_mtime, reverse=True)
    removed = []
    for archive in archives[keep:]:
        for path in [archive, *directory.glob(f"{archive.stem}-*.partial-layers.tar")]:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
