"""Write a normalised Bayer mosaic and its :class:`CameraMetadata` as a DNG, by hand with ``struct``.

File layout (little-endian TIFF): header | IFD0 (the raw image and the DNG tags) | Exif IFD (the
optics, pointed to by tag 34665) | one uncompressed strip of 16-bit CFA samples. The Exif values
live in their own IFD because LibRaw reads ISO only from there.

Levels. Sample = round(v * (white - black_site) + black_site)
(:func:`core_isp.raw_domain.normalised_to_dn`), the inverse of the readers' normalisation
``(v - black_site) / (white - black_site)``, clipped to 0..65535. Without a white
level the file gets WhiteLevel 65535, without black levels BlackLevel 0. WhiteLevel is
``metadata.white_level`` (the normalisation reference), not ``saturation_level``: readers find a
lower clip point in the data themselves (LibRaw's adjust_maximum, :func:`read_raw`'s pile-up test).

Colour. ColorMatrix1 (XYZ -> camera, CalibrationIlluminant1 = 21, D65) is the reverse of the
reader's conversion, :func:`core_isp.colour.xyz_to_cam_from_ccm`::

    ColorMatrix1 = diag(1 / wb) @ inv(ccm_wb_cam_to_srgb) @ XYZ->sRGB

Its response to D65 white is the camera neutral ``1 / wb`` = AsShotNeutral, so a DNG reader finds
a D65 white, adapts nothing, and dcraw's row normalisation gives back ``ccm_wb_cam_to_srgb``.
A shot without a colour matrix is written with the identity CCM (camera RGB taken as sRGB, as
:func:`develop` does): the DNG specification requires ColorMatrix1 for colour images, so such a
file reads back with an identity matrix rather than none. ``wb_gains`` become AsShotNeutral
whatever their ``wb_source`` (DNG has no other slot, so they read back as "as_shot"); a shot
without white balance gets no AsShotNeutral, and its matrix is built for a neutral of (1, 1, 1).

Optics (exposure time, f-number, ISO, focal length) and Make/Model are written only when known.
The same tag builder makes the EXIF block for JPEGs (:func:`exif_from_metadata`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from core_isp.colour import ILLUMINANT_D65, neutral_from_wb_gains, xyz_to_cam_from_ccm
from core_isp.errors import BadInputError
from core_isp.io.writers import STRIP_ROWS, atomic_write
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain.levels import normalised_to_dn

# TIFF field types.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _SRATIONAL = 1, 2, 3, 4, 5, 7, 10
_EXIF_IFD_TAG = 34665
_STRIP_OFFSETS_TAG = 273
_MAX_SAMPLE = 65535
_CFA_CODE = {"R": 0, "G": 1, "B": 2}
_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

#: One IFD entry: (field type, value count, packed little-endian value bytes).
_Entry = tuple[int, int, bytes]


def _ascii(text: str) -> _Entry:
    data = text.encode("ascii", errors="replace") + b"\x00"
    return _ASCII, len(data), data


def _bytes(type_: int, values: Sequence[int] | bytes) -> _Entry:
    data = bytes(values)
    return type_, len(data), data


def _ints(type_: int, values: Sequence[int]) -> _Entry:
    code = {_SHORT: "H", _LONG: "I"}[type_]
    return type_, len(values), struct.pack(f"<{len(values)}{code}", *(int(v) for v in values))


def _rationals(type_: int, values: Sequence[float]) -> _Entry:
    signed = type_ == _SRATIONAL
    limit = 2**31 - 1 if signed else 2**32 - 1
    flat: list[int] = []
    for x in values:
        if not np.isfinite(x) or abs(x) > limit or (x < 0 and not signed):
            raise BadInputError(f"{x} cannot be stored as a TIFF {'SRATIONAL' if signed else 'RATIONAL'}")
        # The largest denominator that keeps the numerator in range: ~1e-7 precision for matrix entries.
        frac = Fraction(float(x)).limit_denominator(max(1, min(10**7, int(limit / max(abs(x), 1.0)))))
        flat += [frac.numerator, frac.denominator]
    code = "i" if signed else "I"
    return type_, len(values), struct.pack(f"<{len(flat)}{code}", *flat)


def _encode_ifd(entries: dict[int, _Entry], offset: int) -> bytes:
    """One IFD placed at file position ``offset``, followed by its out-of-line values (word-aligned)."""
    data_start = offset + 2 + 12 * len(entries) + 4
    head, data = [struct.pack("<H", len(entries))], bytearray()
    for tag in sorted(entries):  # TIFF requires ascending tag order
        type_, count, packed = entries[tag]
        if len(packed) <= 4:
            field = packed.ljust(4, b"\x00")
        else:
            field = struct.pack("<I", data_start + len(data))
            data += packed + b"\x00" * (len(packed) % 2)
        head.append(struct.pack("<HHI", tag, type_, count) + field)
    return b"".join(head) + struct.pack("<I", 0) + bytes(data)


def _tiff_header_and_ifds(ifd0: dict[int, _Entry], exif: dict[int, _Entry], with_strip: bool) -> bytes:
    """TIFF header, IFD0 and the Exif IFD, with the Exif pointer (and the strip offset) filled in.

    The pixel strip, when there is one, must be appended right after the returned bytes.
    """
    # The offsets do not change the size of their LONG fields, so one sizing pass fixes them.
    ifd0 = {**ifd0, _EXIF_IFD_TAG: _ints(_LONG, [0])}
    if with_strip:
        ifd0[_STRIP_OFFSETS_TAG] = _ints(_LONG, [0])
    exif_offset = 8 + len(_encode_ifd(ifd0, 8))
    strip_offset = exif_offset + len(_encode_ifd(exif, exif_offset))
    ifd0[_EXIF_IFD_TAG] = _ints(_LONG, [exif_offset])
    if with_strip:
        ifd0[_STRIP_OFFSETS_TAG] = _ints(_LONG, [strip_offset])
    return b"II*\x00" + struct.pack("<I", 8) + _encode_ifd(ifd0, 8) + _encode_ifd(exif, exif_offset)


def _identity_entries(metadata: CameraMetadata) -> dict[int, _Entry]:
    entries = {274: _ints(_SHORT, [metadata.orientation])}
    if metadata.make:
        entries[271] = _ascii(metadata.make)
    if metadata.model:
        entries[272] = _ascii(metadata.model)
    return entries


def _exif_entries(metadata: CameraMetadata) -> dict[int, _Entry]:
    entries = {36864: _bytes(_UNDEFINED, b"0230")}  # ExifVersion 2.3
    if metadata.exposure_time_s is not None:
        entries[33434] = _rationals(_RATIONAL, [metadata.exposure_time_s])
    if metadata.f_number is not None:
        entries[33437] = _rationals(_RATIONAL, [metadata.f_number])
    if metadata.iso is not None:
        iso = round(metadata.iso)
        entries[34855] = _ints(_SHORT, [min(iso, _MAX_SAMPLE)])
        if iso > _MAX_SAMPLE:
            # EXIF 2.3: ISOSpeedRatings saturates at 65535; the real value goes to ISOSpeed.
            entries[34864] = _ints(_SHORT, [3])  # SensitivityType: ISO speed
            entries[34867] = _ints(_LONG, [iso])
    if metadata.focal_length_mm is not None:
        entries[37386] = _rationals(_RATIONAL, [metadata.focal_length_mm])
    return entries


def exif_from_metadata(metadata: CameraMetadata, image_size_hw: tuple[int, int]) -> bytes:
    """An EXIF block (``b"Exif\\0\\0"`` + TIFF) for an sRGB JPEG: Make, Model, Orientation, the known optics.

    For :func:`core_isp.io.writers.write_jpeg`. ``image_size_hw`` is the size of the pixels
    written, and Orientation must describe them: pass ``metadata.replace(orientation=1)`` for an
    image already turned upright. The tags EXIF requires of a JPEG are included (ColorSpace sRGB).
    """
    ifd0 = {
        **_identity_entries(metadata),
        282: _rationals(_RATIONAL, [72.0]),  # XResolution, YResolution: the conventional 72 dpi
        283: _rationals(_RATIONAL, [72.0]),
        296: _ints(_SHORT, [2]),  # ResolutionUnit: inch
        531: _ints(_SHORT, [1]),  # YCbCrPositioning: centred
    }
    exif = {
        **_exif_entries(metadata),
        37121: _bytes(_UNDEFINED, [1, 2, 3, 0]),  # ComponentsConfiguration: Y Cb Cr
        40960: _bytes(_UNDEFINED, b"0100"),  # FlashpixVersion 1.0
        40961: _ints(_SHORT, [1]),  # ColorSpace: sRGB
        40962: _ints(_LONG, [image_size_hw[1]]),
        40963: _ints(_LONG, [image_size_hw[0]]),
    }
    return b"Exif\x00\x00" + _tiff_header_and_ifds(ifd0, exif, False)


def _mosaic_tensor(mosaic: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The mosaic as an ``(H, W)`` tensor view (no copy); :func:`_samples` converts it a strip at a time."""
    if isinstance(mosaic, torch.Tensor):
        if mosaic.dim() == 4 and mosaic.shape[:2] == (1, 1):
            mosaic = mosaic[0, 0]
        t = mosaic.detach().cpu()
    else:
        t = torch.from_numpy(np.asarray(mosaic))
    if t.dim() != 2:
        raise BadInputError(f"mosaic must be (H, W) or a (1, 1, H, W) tensor, got {tuple(t.shape)}")
    return t


def _samples(values: torch.Tensor, levelled: CameraMetadata) -> np.ndarray:
    """Normalised mosaic ``(H, W)`` -> 16-bit sensor values, rounded and clipped, in float64 a strip of rows at a
    time (strips of an even number of rows keep each site's black level)."""
    height, width = values.shape
    samples = np.empty((height, width), dtype="<u2")
    for top in range(0, height, STRIP_ROWS):
        strip = values[top : top + STRIP_ROWS].double()
        if not bool(torch.isfinite(strip).all()):
            raise BadInputError("mosaic has NaN or infinite values")
        dn = normalised_to_dn(strip[None, None], [levelled])[0, 0].numpy()
        samples[top : top + STRIP_ROWS] = np.clip(np.rint(dn), 0, _MAX_SAMPLE)
    return samples


def _camera_name(metadata: CameraMetadata) -> str:
    make, model = metadata.make or "", metadata.model or ""
    # Many cameras repeat the make in the model ("Canon" + "Canon EOS D30").
    name = model if model.lower().startswith(make.lower()) else f"{make} {model}"
    return name.strip() or "Unknown camera"


def _levels(metadata: CameraMetadata) -> CameraMetadata:
    """``metadata`` with the documented default levels filled in, checked to fit 16-bit samples."""
    white = float(metadata.white_level) if metadata.white_level is not None else float(_MAX_SAMPLE)
    black = tuple(float(b) for b in metadata.black_level_per_site or (0.0,) * 4)
    if not (0 < white <= _MAX_SAMPLE and white == round(white)):
        raise BadInputError(f"white level must be an integer in 1..{_MAX_SAMPLE} for 16-bit DNG, got {white:g}")
    if min(black) < 0 or max(black) >= white:
        raise BadInputError(f"black levels {list(black)} must lie in [0, white level {white:g})")
    return metadata.replace(black_level_per_site=black, white_level=white)


def _crop(metadata: CameraMetadata, h: int, w: int) -> tuple[int, int, int, int]:
    if metadata.default_crop_tlhw is None:
        return 0, 0, h, w
    top, left, ch, cw = (int(v) for v in metadata.default_crop_tlhw)
    if top < 0 or left < 0 or ch <= 0 or cw <= 0 or top + ch > h or left + cw > w:
        raise BadInputError(f"default crop {metadata.default_crop_tlhw} does not fit the {h}x{w} mosaic")
    return top, left, ch, cw


def write_dng(
    path: str | Path,
    mosaic: np.ndarray | torch.Tensor,
    metadata: CameraMetadata,
    overwrite: bool = False,
    description: str | None = None,
) -> Path:
    """Write a Bayer mosaic as an uncompressed 16-bit DNG that LibRaw, exiftool and DNG readers open.

    Args:
        path: target file (written atomically, see :func:`core_isp.io.writers.atomic_write`).
        mosaic: normalised mosaic ``(H, W)`` as the ``mosaic`` of :func:`core_isp.io.read_raw`, or a
            ``(1, 1, H, W)`` tensor; 0 is black and 1 the white level, in sensor orientation.
            (LibRaw opens no image under 22 pixels a side.)
        metadata: the shot; ``cfa_pattern`` is required, and ``image_size_hw`` and
            ``default_crop_tlhw``, when set, must match the mosaic (crop the metadata with it).
        overwrite: replace an existing file.
        description: written as ImageDescription (e.g. how a synthesised RAW was made and where its white
            balance came from, which DNG has no tag for).

    Returns:
        ``path``.
    """
    if metadata.cfa_pattern is None:
        raise BadInputError("metadata has no CFA pattern: not a RAW mosaic")
    values = _mosaic_tensor(mosaic)
    h, w = values.shape
    if metadata.image_size_hw is not None and tuple(metadata.image_size_hw) != (h, w):
        raise BadInputError(f"metadata describes a {metadata.image_size_hw} image but the mosaic is {(h, w)}")
    if 2 * h * w > 2**32 - 2**16:  # TIFF offsets are 32-bit; the tags need a little room too
        raise BadInputError(f"a {h}x{w} mosaic is too large for a 16-bit DNG (4 GiB limit)")
    levelled = _levels(metadata)
    samples = _samples(values, levelled)
    black = np.asarray(levelled.black_level_per_site)
    top, left, crop_h, crop_w = _crop(metadata, h, w)

    wb = metadata.wb_gains or (1.0, 1.0, 1.0)
    xyz_to_cam = xyz_to_cam_from_ccm(np.asarray(metadata.ccm_wb_cam_to_srgb or _IDENTITY), wb)
    black_integral = bool(np.all(black == np.round(black)))
    ifd0: dict[int, _Entry] = {
        **_identity_entries(metadata),
        254: _ints(_LONG, [0]),  # NewSubFileType: the main image
        256: _ints(_LONG, [w]),
        257: _ints(_LONG, [h]),
        258: _ints(_SHORT, [16]),
        259: _ints(_SHORT, [1]),  # no compression
        262: _ints(_SHORT, [32803]),  # PhotometricInterpretation: CFA
        277: _ints(_SHORT, [1]),
        278: _ints(_LONG, [h]),  # one strip
        279: _ints(_LONG, [samples.nbytes]),
        284: _ints(_SHORT, [1]),
        305: _ascii("paramisp"),
        33421: _ints(_SHORT, [2, 2]),
        33422: _bytes(_BYTE, [_CFA_CODE[c] for c in metadata.cfa_pattern]),
        50706: _bytes(_BYTE, [1, 4, 0, 0]),
        50707: _bytes(_BYTE, [1, 1, 0, 0]),  # nothing here needs a reader newer than DNG 1.1
        50708: _ascii(_camera_name(metadata)),
        50710: _bytes(_BYTE, [0, 1, 2]),
        50711: _ints(_SHORT, [1]),  # CFALayout: rectangular
        50713: _ints(_SHORT, [2, 2]),
        50714: _ints(_LONG, black) if black_integral else _rationals(_RATIONAL, black),
        50717: _ints(_LONG, [levelled.white_level]),
        50719: _ints(_LONG, [left, top]),  # DefaultCropOrigin is (x, y)
        50720: _ints(_LONG, [crop_w, crop_h]),  # DefaultCropSize is (width, height)
        50721: _rationals(_SRATIONAL, xyz_to_cam.ravel()),
        50778: _ints(_SHORT, [ILLUMINANT_D65]),
    }
    if metadata.wb_gains is not None:
        ifd0[50728] = _rationals(_RATIONAL, neutral_from_wb_gains(metadata.wb_gains))
    if description:
        ifd0[270] = _ascii(description)
    header = _tiff_header_and_ifds(ifd0, _exif_entries(metadata), True)
    with atomic_write(path, overwrite) as tmp, open(tmp, "wb") as f:
        f.write(header)
        samples.tofile(f)
    return Path(path)
