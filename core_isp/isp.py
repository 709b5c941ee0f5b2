"""ISPs as apps and benchmarks meet them: one small protocol, met by the learned, canonical and UPI-style ISPs.

An :class:`ISP` maps a normalised mosaic ``(B, 1, H, W)`` to sRGB ``(B, 3, H, W)`` (``forward``) and back
(``inverse``), each image with the metadata of its shot, in sensor orientation. The inverse takes the metadata
of the RAW it is to produce (its CFA, levels, white balance and colour matrix: :meth:`Camera.raw_metadata`).
Comparing methods is swapping the ISP.

Camera RGB (``InferenceOptions(mosaic=False)``): every inverse here computes the sensor's camera RGB at every
pixel and samples it through the record's CFA as its very last step; without the mosaic it returns that camera
RGB ``(B, 3, H, W)``, normalised as the mosaic is, so that sampling it through the record's CFA
(:func:`core_isp.canonical.mosaic`) gives the default output exactly. An app that changes the sensor (cam2cam)
needs all three colours at every site, which a mosaic has lost.

``load_isp(camera=...)`` gives the learned ISP of a camera, shipped or stored (``None``: the camera-agnostic
pair), or of given weight files.

Unclipped output (``InferenceOptions(clip=False)``): forward, the network's sRGB-encoded output before it is
limited to [0, 1] (the extended tone curve can exceed 1 where a highlight is brighter than the render's white);
inverse, the normalised RAW before it is limited to [0, 1] (values above 1 estimate signal beyond the white
level, below 0 the noise floor's negative side). The learned networks were trained on targets within [0, 1], so
their unclipped values extrapolate; the canonical inverse's are exact for highlights the tone curve did not clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from core_isp.cameras import GENERIC, Camera, CameraWeights, generic_weights, get_camera
from core_isp.cameras.shipped import bracket_conditioning, joint_weights, registry, weights_dir
from core_isp.canonical import CanonicalParams, develop, undevelop, undevelop_rgb
from core_isp.canonical.upi import upi_process, upi_unprocess, upi_unprocess_rgb
from core_isp.checkpoint import CheckpointInfo, load_checkpoint
from core_isp.errors import BadInputError
from core_isp.image import from_codes, to_codes
from core_isp.inference import DEFAULT_HALO, DEFAULT_TILE, forward_isp, inverse_isp
from core_isp.metadata import CameraMetadata
from core_isp.models.paramisp import ParamISP

__all__ = [
    "GENERIC",
    "ISP",
    "FixedISP",
    "InferenceOptions",
    "LearnedISP",
    "available_cameras",
    "canonical_isp",
    "load_isp",
    "registry",
    "upi_isp",
    "weights_dir",
]


@dataclass(frozen=True)
class InferenceOptions:
    """How to run an ISP: tiling (bounded memory), device, precision, and whether to clip to the valid range."""

    #: Kept centre of each window in pixels (multiple of 4); None runs the image in one window.
    tile: int | None = DEFAULT_TILE
    #: Overlap on each side of a tile (multiple of 4). None: the model's whole reach, exact but 1.6x the work of the
    #: default, whose output differs by at most about 3e-4 (:data:`core_isp.inference.DEFAULT_HALO`).
    halo: int | None = DEFAULT_HALO
    #: Where the networks run; the images stay in host memory.
    device: str = "cpu"
    #: e.g. ``torch.bfloat16`` for autocast on a GPU; None runs in fp32.
    autocast_dtype: torch.dtype | None = None
    #: ``torch.bfloat16`` runs LocalNet, nearly all of the ISP's arithmetic, in bf16 (weights and activations): 1.6-1.7x
    #: faster on a CPU with AVX512-BF16, output within about 5e-3 (``benchmarks/RESULTS.md``).
    localnet_dtype: torch.dtype = torch.float32
    #: Convolutions in channels-last memory format: the same numbers, 1.4-1.5x faster for ``base`` on the CPU.
    channels_last: bool = True
    #: False returns the unclipped output (module notes say what it means per direction).
    clip: bool = True
    #: False: the inverse returns camera RGB ``(B, 3, H, W)`` instead of its mosaic (module notes). The forward
    #: direction ignores it.
    mosaic: bool = True
    #: The forward direction's output type: float32, or ``torch.uint8`` / ``torch.uint16`` for sRGB code values
    #: (clipped and rounded, :func:`core_isp.image.to_codes`), what an 8- or 16-bit file stores, at a quarter or half
    #: the memory (a learned ISP quantises tile by tile). The inverse gives float32 only.
    output_dtype: torch.dtype = torch.float32


@runtime_checkable
class ISP(Protocol):
    """Anything that renders RAW to sRGB and back for shots described by their metadata."""

    name: str

    def forward(
        self, raw: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
    ) -> torch.Tensor:
        """``(B, 1, H, W)`` normalised mosaic -> ``(B, 3, H, W)`` sRGB."""
        ...

    def inverse(
        self, srgb: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
    ) -> torch.Tensor:
        """``(B, 3, H, W)`` sRGB -> ``(B, 1, H, W)`` normalised mosaic in ``meta``'s CFA, or with
        ``options.mosaic`` False the camera RGB ``(B, 3, H, W)`` that mosaic samples."""
        ...


def _records(meta: CameraMetadata | Sequence[CameraMetadata], batch: int) -> list[CameraMetadata]:
    metas = [meta] if isinstance(meta, CameraMetadata) else list(meta)
    if len(metas) != batch:
        raise BadInputError(f"{len(metas)} metadata records for a batch of {batch}")
    return metas


def _limit(x: torch.Tensor, options: InferenceOptions) -> torch.Tensor:
    if options.output_dtype != torch.float32 and not options.clip:
        raise BadInputError("code values are clipped: output_dtype uint8 / uint16 needs clip=True")
    if not x.is_floating_point():
        return x
    x = x.clamp(0.0, 1.0) if options.clip else x
    return x if options.output_dtype == torch.float32 else to_codes(x, options.output_dtype)


def _inverse_gives_floats(options: InferenceOptions) -> None:
    if options.output_dtype != torch.float32:
        raise BadInputError(f"the inverse ISP gives a float32 RAW, not {options.output_dtype} code values")


@dataclass
class LearnedISP:
    """A forward and/or inverse ParamISP with where they came from."""

    name: str
    forward_model: ParamISP | None
    inverse_model: ParamISP | None
    forward_info: CheckpointInfo | None = None
    inverse_info: CheckpointInfo | None = None
    #: What the weights are, for logs and file descriptions (e.g. ``"canon-550d (camera-agnostic weights)"``, or
    #: ``"inverse weights runs/mine.safetensors"`` for a weight file).
    description: str = ""
    #: The checkpoint file loaded per direction, and ``inverse_conditioning``: the conditioning file loaded over
    #: the inverse's (``pair="brackets"``).
    weight_files: dict[str, Path] = field(default_factory=dict)

    @property
    def bracket_conditioned(self) -> bool:
        """Whether the inverse carries a conditioning fine-tuned for bracket frames (``pair="brackets"``)."""
        return "inverse_conditioning" in self.weight_files

    @property
    def camera(self) -> str:
        """The camera name the weights were loaded for (``custom`` for weight files)."""
        return self.name

    def forward(
        self,
        raw: torch.Tensor,
        meta: CameraMetadata | Sequence[CameraMetadata],
        options: InferenceOptions | None = None,
    ) -> torch.Tensor:
        """RAW -> sRGB: normalised mosaic ``(B, 1, H, W)`` -> ``(B, 3, H, W)`` (in [0, 1] unless unclipped)."""
        if self.forward_model is None:
            raise BadInputError(f"{self.name}: no forward weights loaded")
        o = options or InferenceOptions()
        out = forward_isp(self.forward_model, raw, _records(meta, raw.shape[0]), tile=o.tile, halo=o.halo,
                          device=o.device, autocast_dtype=o.autocast_dtype, localnet_dtype=o.localnet_dtype,
                          channels_last=o.channels_last, output_dtype=o.output_dtype)  # fmt: skip
        return _limit(out, o)

    def inverse(
        self,
        srgb: torch.Tensor,
        meta: CameraMetadata | Sequence[CameraMetadata],
        options: InferenceOptions | None = None,
    ) -> torch.Tensor:
        """sRGB -> RAW: ``(B, 3, H, W)`` in [0, 1] -> normalised mosaic ``(B, 1, H, W)`` in the metadata's CFA
        (camera RGB ``(B, 3, H, W)`` with ``options.mosaic`` False)."""
        if self.inverse_model is None:
            raise BadInputError(f"{self.name}: no inverse weights loaded")
        o = options or InferenceOptions()
        _inverse_gives_floats(o)
        out = inverse_isp(self.inverse_model, srgb, _records(meta, srgb.shape[0]), tile=o.tile, halo=o.halo,
                          device=o.device, autocast_dtype=o.autocast_dtype, localnet_dtype=o.localnet_dtype,
                          channels_last=o.channels_last, mosaic=o.mosaic)  # fmt: skip
        return _limit(out, o)


@dataclass(frozen=True)
class FixedISP:
    """A non-learned ISP: pure functions of ``(image, CanonicalParams)`` driven by the shot's metadata.

    ``process`` maps a mosaic ``(B, 1, H, W)`` to sRGB ``(B, 3, H, W)``, ``unprocess`` sRGB to a mosaic, and
    ``unprocess_rgb`` sRGB to the camera RGB ``(B, 3, H, W)`` that ``unprocess`` samples through the CFA (the
    canonical and UPI-style ISPs define the one as the other plus the mosaic); without it an ISP has no camera RGB
    to give and ``InferenceOptions(mosaic=False)`` is refused.
    """

    name: str
    process: Callable[[torch.Tensor, CanonicalParams], torch.Tensor]
    unprocess: Callable[[torch.Tensor, CanonicalParams], torch.Tensor]
    unprocess_rgb: Callable[[torch.Tensor, CanonicalParams], torch.Tensor] | None = None

    def forward(
        self, raw: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
    ) -> torch.Tensor:
        return self._run(self.process, raw, meta, options)

    def inverse(
        self, srgb: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
    ) -> torch.Tensor:
        _inverse_gives_floats(options or InferenceOptions())
        srgb = from_codes(srgb)
        if options is None or options.mosaic:
            return self._run(self.unprocess, srgb, meta, options)
        if self.unprocess_rgb is None:
            raise BadInputError(f"{self.name}: this inverse gives no camera RGB, only its mosaic")
        return self._run(self.unprocess_rgb, srgb, meta, options)

    @staticmethod
    def _run(fn: Callable, x: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None):
        params = CanonicalParams.from_metadata(_records(meta, x.shape[0]))
        with torch.no_grad():
            return _limit(fn(x, params), options or InferenceOptions())


def canonical_isp(demosaic_method: str = "malvar") -> FixedISP:
    """CanoNet alone: demosaic, white balance, colour matrix, sRGB curve, and their exact inverses."""
    return FixedISP("canonical", lambda raw, p: develop(raw, p, demosaic_method), undevelop, undevelop_rgb)


def upi_isp() -> FixedISP:
    """The fixed "unprocessing" pipeline of Brooks et al. (with the shot's true white balance and matrix)."""
    return FixedISP("upi", upi_process, upi_unprocess, upi_unprocess_rgb)


def available_cameras() -> list[str]:
    """Names ``load_isp(camera=...)`` accepts from the package (with stored ones: ``cameras.available_cameras``)."""
    return sorted(registry())


def uses_generic_weights(camera: Camera, direction: str) -> bool:
    """Whether ``camera`` runs the camera-agnostic weights in ``direction`` (it has none of its own, or they are
    those)."""
    own = camera.weights.path(direction)
    return own is None or own == generic_weights().path(direction)


#: Which weights of a camera :func:`load_isp` loads: ``separate`` (each direction trained on its own, stages 1-2),
#: ``joint`` (the two fine-tuned together for the round trip, stage 3) or ``brackets`` (the separate pair, the
#: inverse's conditioning fine-tuned for bracket frames: ISO set apart from the light, a loss in stops;
#: ``tools/train_bracket_inverse.py``).
PAIRS = ("separate", "joint", "brackets")


def _with_pair(
    files: CameraWeights, kind: str, pair: str, joint_entry: str | None, brackets_entry: str | None
) -> tuple[CameraWeights, Path | None, str]:
    """``files`` (the separate pair, described as ``kind``) turned into ``pair``'s: the joint pair of registry entry
    ``joint_entry``, or the bracket conditioning of ``brackets_entry`` for the inverse; where that entry ships none,
    the separate pair, and the description says so."""
    if pair == "joint":
        joint = joint_weights(joint_entry)
        return (joint, None, f"{kind}, joint pair") if joint else (files, None, f"{kind}; no joint pair, separate pair")
    if pair == "brackets":
        conditioning = bracket_conditioning(brackets_entry)
        suffix = ", inverse conditioned for brackets" if conditioning else "; no bracket conditioning, separate pair"
        return files, conditioning, kind + suffix
    return files, None, kind


def _weights_of(camera: Camera, pair: str) -> tuple[CameraWeights, Path | None, str]:
    """A camera's own weights per direction, the camera-agnostic pair where it has none, turned into ``pair``'s
    (:func:`_with_pair`): the camera-agnostic joint pair where it runs the camera-agnostic weights both ways, the
    camera-agnostic bracket conditioning where its inverse is camera-agnostic."""
    generic = generic_weights()
    own = {d: camera.weights.path(d) for d in ("forward", "inverse")}
    files = CameraWeights(**{d: own[d] or generic.path(d) for d in own})
    agnostic = [d for d in own if uses_generic_weights(camera, d)]
    kind = "camera-agnostic weights" if len(agnostic) == 2 else (
        f"own weights, camera-agnostic {agnostic[0]}" if agnostic else "own weights")  # fmt: skip
    shipped = camera.name if camera.origin == "shipped" else None
    files, conditioning, kind = _with_pair(files, kind, pair, GENERIC if len(agnostic) == 2 else shipped,
                                           GENERIC if "inverse" in agnostic else shipped)  # fmt: skip
    return files, conditioning, f"{camera.name} ({camera.origin}, {kind})"


def load_isp(
    camera: str | Camera | None = None,
    *,
    forward_weights: str | Path | None = None,
    inverse_weights: str | Path | None = None,
    directions: Sequence[str] = ("forward", "inverse"),
    device: torch.device | str = "cpu",
    pair: str = "separate",
) -> LearnedISP:
    """The learned ISP of a camera (name of a shipped or stored camera, or a :class:`Camera`; ``None`` or
    ``"generic"``: the camera-agnostic pair), or of given weight files, which take precedence per direction.
    ``pair``: one of :data:`PAIRS`.

    Unknown names and wrong-direction files are refused with a one-line :class:`BadInputError`.
    """
    if pair not in PAIRS:
        raise BadInputError(f"pair must be one of {', '.join(PAIRS)}, got {pair!r}")
    if camera in (None, GENERIC):
        files, conditioning, description = _with_pair(generic_weights(), "camera-agnostic weights", pair, GENERIC,
                                                       GENERIC)  # fmt: skip
        name = GENERIC
    else:
        found = camera if isinstance(camera, Camera) else get_camera(camera)
        files, conditioning, description = _weights_of(found, pair)
        name = found.name
    files_given = {"forward": forward_weights, "inverse": inverse_weights}
    given = {d: Path(p) for d, p in files_given.items() if p and d in directions}
    if given:
        files = CameraWeights(**{d: given.get(d) or files.path(d) for d in ("forward", "inverse")})
        # A conditioning file belongs to the checkpoint it was made over, never to a given one.
        conditioning = None if "inverse" in given else conditioning
        # Provenance names the files actually loaded, never the camera whose weights they replaced.
        own = [f"{d} weights of {description}" for d in directions if d not in given]
        description = ", ".join([f"{d} weights {path}" for d, path in given.items()] + own)
        name = "custom"
    isp = LearnedISP(name=name, forward_model=None, inverse_model=None, description=description)
    for direction in directions:
        path = files.path(direction)
        if path is None:
            continue
        extra = conditioning if direction == "inverse" else None
        model, info = load_checkpoint(path, direction=direction, device=device, conditioning=extra)  # type: ignore[arg-type]
        setattr(isp, f"{direction}_model", model)
        setattr(isp, f"{direction}_info", info)
        isp.weight_files[direction] = path
        if extra is not None:
            isp.weight_files[f"{direction}_conditioning"] = extra
    return isp
