"""Shipping only the layers a host lacks: which layers those are, and the archive that carries them.

`docker load` skips every layer whose chain id the daemon already has and never opens its file
(moby image/tarexport/load.go: `l.lss.Get(r.ChainID())` before `loadLayer`), so an archive
whose known layers are empty files loads to the same image id as the whole `docker save`.
A chain id names a layer together with every layer under it (OCI image-spec config.md,
"Layer ChainID"): the same diff on another base is another layer.

The containerd image store imports archives through containerd, which checks every blob, so
hosts using it get whole archives (https://docs.docker.com/engine/storage/containerd/).
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# `docker info`'s DriverStatus names the snapshotter when the containerd image store is on.
CONTAINERD_STORE_MARK = "io.containerd.snapshotter"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            digest = hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest()
            chains.append(f"sha256:{digest}")
    return chains


def host_layers_command() -> str:
    """One line per image on the host: its diff ids; a first line saying which image store
    the daemon uses. Prints nothing when Docker is not there yet."""
    listing = ("docker image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' "
               "$(docker image ls --all --quiet) 2>/dev/null")
    return ("command -v docker >/dev/null || exit 0; "
            "docker info --format 'store {{json .DriverStatus}}' 2>/dev/null; " + listing + " || true")


def host_chain_ids(lines: Iterable[str]) -> frozenset[str] | None:
    """The chain ids the host has, from host_layers_command's output; None when the host's
    image store does not load partial archives (ship whole ones there)."""
    chains: set[str] = set()
    for line in lines:
        if line.startswith("store "):
            if CONTAINERD_STORE_MARK in line:
                return None
            continue
        chains.update(chain_ids(line.split()))
    return frozenset(chains)


@dataclass(frozen=True)
class LayerPlan:
    """Which of an image's layers go over the connection."""
    send: tuple[int, ...]      # indices into the image's layers, bottom first
    total: int

    @property
    def partial(self) -> bool:
        return len(self.send) < self.total


def plan_layers(diff_ids: Sequence[str], host_chains: frozenset[str] | None) -> LayerPlan:
    if host_chains is None:
        return LayerPlan(tuple(range(len(diff_ids))), len(diff_ids))
    send = tuple(index for index, chain in enumerate(chain_ids(diff_ids)) if chain not in host_chains)
    return LayerPlan(send, len(diff_ids))


def load_partial_image(partial: str, full: str, image_id: str, pinned: str) -> list[str]:
    """Load the partial archive and tag the image; then keep a whole archive on the data volume,
    saved by the host itself, for a host that replaces this one (it has none of these layers)."""
    script = ('set -e; docker load --quiet --input "$1"; docker tag "$2" "$3"; rm -f "$1"; '
              'docker save --output "$4.partial" "$2"; mv "$4.partial" "$4"')
    return ["sh", "-c", script, "load-partial-image", partial, image_id, pinned, full]


def describe(plan: LayerPlan, sent_bytes: int) -> str:
    return (f"{len(plan.send)} of {plan.total} layers the host lacks, "
            f"{sent_bytes / 1e6:.1f} MB over the connection")
