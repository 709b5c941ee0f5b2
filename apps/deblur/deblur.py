"""Deblurring a photo in its camera's RAW: the Python API behind ``paramisp deblur``.

Blur is linear in light. In a RAW mosaic a blurry shot is the sharp one averaged along the motion, plus noise whose
level the ISO sets; in sRGB the same blur has been bent by the tone curve, clipped, and mixed with noise that the
camera's processing has shaped. So the network works on the RAW, and a photo gets there and back through its
camera's learned ISPs at the photo's own parameters:

* an sRGB photo with EXIF: the camera's inverse ISP -> its RAW -> the network -> the forward ISP with the same
  metadata (:func:`core_isp.chain.run_chain`); the camera by ``camera`` or the photo's make/model, the light
  estimated from the recorded exposure (:func:`core_isp.cameras.photo_white_balance`), as ``paramisp to-raw`` does.
  By default the output is the photo plus the change the network made to the render (``residual``): the learned
  round trip alone would cost about 1 dB, more than the network gains;
* a RAW file: the network on its mosaic, then the forward ISP of its camera (camera-agnostic weights for an
  unknown one) with the file's own white balance and matrix.

Weights trained in sRGB (the baselines of ``benchmarks/deblur_eval.py``) run on the photo's pixels instead.

Documented defaults for what a photo does not record (each one used is named in the result's ``defaults``):

* no known camera (no make/model, or an unknown one): the body of ``nikon-d7000`` with the camera-agnostic ISP
  weights (:func:`core_isp.cameras.resolve_camera`, which warns);
* no exposure time, f-number or ISO: white balance = the camera's daylight preset; the ISP is told the values are
  unknown (ParamNet masks them);
* no ISO: the network's noise condition is the camera's base ISO (:attr:`NoiseModel.base_iso`), the least noise.

Full resolution runs in overlapping tiles (:func:`core_isp.inference.run_tiled`, one window on the compute device
at a time) with a halo of the network's reach, so the tiled result equals one pass over the image.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from apps.deblur.model import DeblurNet, DeblurWeightsInfo, Domain, load_weights
from core_isp.cameras import DEFAULT_CAMERA, Camera, camera_for, get_camera, photo_white_balance, resolve_camera
from core_isp.canonical import mirror_pad
from core_isp.chain import run_chain, to_srgb
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.inference import round_up, run_tiled
from core_isp.isp import ISP, InferenceOptions, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import pack_bayer, unpack_bayer

#: The shipped weights, one file per domain (their training records: :mod:`apps.deblur.weights`);
#: ``Deblurrer.load()`` without a file reads the RAW one, ``load(domain="srgb")`` the sRGB baseline.
WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS: dict[Domain, Path] = {
    "raw": WEIGHTS_DIR / "deblur-raw.safetensors",
    "srgb": WEIGHTS_DIR / "deblur-srgb-synth.safetensors",
}


def deblur_tensor(
    model: DeblurNet,
    image: torch.Tensor,
    iso: torch.Tensor,
    tile: int | None = None,
    options: InferenceOptions | None = None,
) -> torch.Tensor:
    """Run the network on images of any size: ``(B, C, H, W)`` and ISO ``(B,)`` -> ``(B, C, H, W)`` fp32.

    The image is mirror-padded at the bottom and right to the network's size multiple and run in windows whose
    kept centre is ``tile`` network pixels (rounded up to the multiple; None: one window), each with a halo of the
    network's reach, so the result equals the untiled pass. ``options`` gives the device and autocast dtype.
    """
    o = options or InferenceOptions()
    multiple = model.config.size_multiple
    height, width = image.shape[-2:]
    padded = mirror_pad(image.float(), 0, round_up(height, multiple) - height, 0, round_up(width, multiple) - width)
    device = torch.device(o.device)
    autocast = torch.autocast(device.type, dtype=o.autocast_dtype, enabled=o.autocast_dtype is not None)
    iso = iso.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast:
            out = run_tiled(lambda window: model(window, iso), padded, model.config.channels,
                            None if tile is None else round_up(tile, multiple), round_up(model.reach, multiple),
                            device, multiple=multiple)  # fmt: skip
    finally:
        model.train(was_training)
    return out[..., :height, :width]


def deblur_mosaic(
    model: DeblurNet,
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    iso: torch.Tensor,
    options: InferenceOptions | None = None,
) -> torch.Tensor:
    """A RAW network on normalised mosaics ``(B, 1, H, W)`` of any size and CFA phase -> ``(B, 1, H, W)`` in [0, 1].

    The mosaic is mirror-padded to whole Bayer cells (the mirror keeps each site's colour), packed into its colour
    planes, deblurred (``options.tile`` mosaic pixels per tile) and unpacked. The output is limited to the sensor's
    range: light below black or above the white level was never recorded.
    """
    if model.config.domain != "raw":
        raise BadInputError(f"a mosaic needs RAW deblurring weights, these are {model.config.domain}")
    o = options or InferenceOptions()
    height, width = raw.shape[-2:]
    even = mirror_pad(raw.float(), 0, height % 2, 0, width % 2)
    metas = [m.replace(image_size_hw=tuple(even.shape[-2:])) for m in meta]
    planes = deblur_tensor(model, pack_bayer(even, metas), iso, None if o.tile is None else o.tile // 2, o)
    return unpack_bayer(planes, metas)[..., :height, :width].clamp(0.0, 1.0)


@dataclass(frozen=True)
class DeblurResult:
    """A deblurred image, its deblurred RAW when the network ran in RAW, and how it was made."""

    srgb: CameraImage  # (1, 3, H, W) in [0, 1], sensor orientation, the input's shot metadata
    raw: CameraImage | None  # (1, 1, H, W) normalised mosaic (RAW network), else None
    #: JSON-ready: weights, domain, camera and ISP, white balance, ISO used, unknown EXIF, defaults used.
    record: dict[str, object]


@dataclass
class Deblurrer:
    """Deblurring weights, and the ISPs that carry photos to their RAW and back: the Python API.

    ``camera`` fixes the camera for every input (else each photo's make/model decides); ``isp`` fixes the ISP for
    every camera (e.g. :func:`core_isp.isp.canonical_isp`; else each camera's learned one, loaded once).
    """

    model: DeblurNet
    info: DeblurWeightsInfo
    weights: Path
    camera: Camera | None = None
    isp: ISP | None = None
    options: InferenceOptions = field(default_factory=InferenceOptions)
    #: The light for photos (see :func:`photo_white_balance`): None estimates it from the recorded exposure.
    white_balance: str | None = None
    #: For sRGB photos through a RAW network: the photo plus the change the network made to the render, so the
    #: learned round trip's own error cancels (:func:`core_isp.chain.correct_round_trip`); one more forward pass.
    #: False renders the deblurred RAW alone (its benchmark: about 1 dB lower, all of it the round trip's error).
    residual: bool = True
    #: Which of a camera's ISP pairs runs (:data:`core_isp.isp.PAIRS`) where ``isp`` is not given.
    pair: str = "separate"
    _isps: dict[tuple[object, ...], ISP] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        weights: str | Path | None = None,
        camera: str | Camera | None = None,
        options: InferenceOptions | None = None,
        isp: ISP | None = None,
        white_balance: str | None = None,
        domain: Domain | None = None,
        residual: bool = True,
        pair: str = "separate",
    ) -> Deblurrer:
        """Weights from a file, else the shipped ones of ``domain`` (default RAW); refuses other files in one line."""
        o = options or InferenceOptions()
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS[domain or "raw"]
        if weights is None and not path.exists():
            raise BadInputError(f"the shipped deblurring weights are missing ({path}): reinstall paramisp or give "
                                "a weights file")  # fmt: skip
        model, info = load_weights(path, domain, o.device)
        fixed = get_camera(camera) if isinstance(camera, str) else camera
        return cls(model, info, path, fixed, isp, o, white_balance, residual, pair)

    @property
    def domain(self) -> Domain:
        return self.model.config.domain

    def describe(self) -> str:
        return f"{self.weights.name} ({self.info.describe()})"

    def deblur(self, image: CameraImage) -> DeblurResult:
        """One image (``(1, 3, H, W)`` sRGB photo with its EXIF, or ``(1, 1, H, W)`` RAW) -> deblurred, same size."""
        if image.space == "raw":
            return self._deblur_raw(image)
        if image.space == "srgb":
            return self._deblur_photo(image)
        raise BadInputError(f"deblur takes a RAW mosaic or an sRGB photo, got {image.space}")

    def _isp_for(self, camera: Camera | None) -> ISP:
        """The ISP for a camera (None: the camera-agnostic pair), loaded once."""
        if self.isp is not None:
            return self.isp
        key = (None,) if camera is None else (camera.name, camera.weights.forward, camera.weights.inverse)
        if key not in self._isps:
            self._isps[key] = load_isp(camera, device=self.options.device, pair=self.pair)
        return self._isps[key]

    def _base_record(self, meta: CameraMetadata, camera_name: str, isp: ISP) -> dict[str, object]:
        return {"weights": str(self.weights), "weights_description": self.describe(), "domain": self.domain,
                "camera": camera_name, "isp": getattr(isp, "description", None) or isp.name,
                "unknown_exif": meta.missing_optics(), "tile": self.options.tile}  # fmt: skip

    def _iso(self, meta: CameraMetadata, camera: Camera | None, defaults: dict[str, object]) -> torch.Tensor:
        iso = meta.iso
        if iso is None:
            iso = (camera or get_camera(DEFAULT_CAMERA)).noise.base_iso
            defaults["iso"] = iso
        return torch.tensor([float(iso)])

    def _deblur_raw(self, raw: CameraImage) -> DeblurResult:
        meta = raw.meta
        camera = self.camera or camera_for(meta)
        isp = self._isp_for(camera)
        defaults: dict[str, object] = {}
        if camera is None:
            defaults["camera"] = "unknown: camera-agnostic ISP with the file's own white balance and matrix"
        iso = self._iso(meta, camera, defaults)
        record = self._base_record(meta, camera.name if camera else "unknown", isp)
        if self.domain == "srgb":
            rendered = to_srgb(raw, isp, self.options)
            out = deblur_tensor(self.model, rendered.pixels, iso, self.options.tile, self.options).clamp(0.0, 1.0)
            return DeblurResult(rendered.with_pixels(out), None, {**record, "iso": float(iso), "defaults": defaults})
        sharp = raw.with_pixels(deblur_mosaic(self.model, raw.pixels, [meta], iso, self.options))
        return DeblurResult(to_srgb(sharp, isp, self.options), sharp,
                            {**record, "iso": float(iso), "defaults": defaults})  # fmt: skip

    def _deblur_photo(self, photo: CameraImage) -> DeblurResult:
        exif = photo.meta.replace(image_size_hw=photo.size_hw)
        defaults: dict[str, object] = {}
        camera = self.camera
        if camera is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MetadataWarning)  # the default is named in the record instead
                camera = resolve_camera(None, exif)
            if camera_for(exif) is None:
                defaults["camera"] = f"{camera.name} body, camera-agnostic ISP weights (no known make/model)"
        isp = self._isp_for(camera)
        iso = self._iso(exif, camera, defaults)
        record = {**self._base_record(exif, camera.name, isp), "iso": float(iso)}
        if self.domain == "srgb":
            out = deblur_tensor(self.model, photo.pixels, iso, self.options.tile, self.options).clamp(0.0, 1.0)
            return DeblurResult(photo.with_pixels(out), None, {**record, "defaults": defaults})
        white = photo_white_balance(camera, exif, self.white_balance)
        if self.white_balance is None and white.source == "daylight":
            defaults["white_balance"] = "daylight (no exposure EXIF to estimate the light from)"
        raw_meta = camera.raw_metadata(exif, white.gains, white.source)

        def op(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> tuple[torch.Tensor, list[CameraMetadata]]:
            return deblur_mosaic(self.model, raw, meta, iso, self.options), list(meta)

        chain = run_chain(photo, isp, [raw_meta], isp, op, self.options, residual=self.residual)
        return DeblurResult(chain.rendered, chain.raw_out, {**record, "white_balance": white.describe(),
                                                            "defaults": defaults})  # fmt: skip
