"""A spread of realistic XYZ -> camera matrices for training camera-agnostic weights that generalise in colour.

The five tuning cameras span a narrow family of colour responses, so weights trained only on them learn their
colour terms (white balance, colour matrix) as near-constants and do not extrapolate: on a camera outside the
family, the camera's own, correct matrix scored worse than a tuning camera's matrix swapped in. Training over many
real bodies' matrices, mixed and perturbed, makes the colour terms informative.

:func:`sample_xyz_to_cam` draws a D65 XYZ -> camera matrix: a random convex mix of two bank matrices times a
near-identity channel mixing (sensor crosstalk differs between bodies), accepted when the camera's response to
D65 white and the matrix's condition number stay within the bank's range (widened by a margin), so every draw
is a plausible sensor. The camera JPEG of a shot rendered with a drawn matrix keeps its scene colours (the
simulator's WB and colour matrix undo the matrix), while the RAW and its metadata change.

Held out: the bank has no matrix of ``canon-550d`` (the held-out profile) nor of the LG G5 (the out-of-family test
camera ``OUTSIDER`` in ``benchmarks/user_cameras.py``), nor of their sensor siblings (the 18 MP Canon APS-C
bodies 600D/60D/7D/1200D share the 550D's sensor; the LG G4's matrix is within 0.06 of the G5's), so both stay
unseen cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from core_isp.colour import srgb_to_xyz_matrix
from core_isp.errors import BadInputError
from core_isp.simulation.profiles import TUNING_PROFILES, get_profile

#: LibRaw ``src/tables/colordata.cpp`` (``adobe_coeff``, Adobe DNG Converter matrices unless the row says
#: otherwise), repository LibRaw/LibRaw, commit 158e635e5e80a95dfa402b0a79a7167922c1d4ec.
_LIBRAW = "LibRaw colordata.cpp adobe_coeff @158e635"

#: ``(camera, XYZ(D65) -> camera x 10000 row-major, source)``: real bodies beyond the tuning cameras, chosen across
#: makers and sensor classes (DSLR, mirrorless, medium format, compact, phone, action and drone cameras).
_OTHER_BODIES: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("Canon EOS D30", (9900, -2771, -1324, -7072, 14229, 3140, -2790, 3344, 8861), "docs/camera-facts.md 6 [LR]"),
    ("Nikon D40X", (8819, -2543, -911, -9025, 16928, 2151, -1329, 1213, 8449), "docs/camera-facts.md 3 [LR]"),
    ("Samsung Galaxy Note9", (6632, -622, -1104, -5659, 14819, 773, -1846, 4465, 4967),
     "docs/camera-facts.md 7b [RT] (Adobe DNG Converter 11.1 ColorMatrix1)"),
    ("HUAWEI DLI-L22", (6984, -812, -975, -4792, 13481, 1381, -1056, 2355, 4873), "docs/camera-facts.md 7b [RT]"),
    ("GoPro HERO5 Black", (10344, -4210, -620, -2315, 10625, 1948, 93, 1058, 5541), "docs/camera-facts.md 7d [LR]"),
    ("Canon EOS 5D Mark II", (4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651), _LIBRAW),
    ("Canon EOS R5", (9766, -2953, -1254, -4276, 12116, 2433, -437, 1336, 5131), _LIBRAW),
    ("Fujifilm X-T3", (13426, -6334, -1177, -4244, 12136, 2371, -580, 1303, 5980), _LIBRAW),
    ("Olympus E-PL5", (8380, -2630, -639, -2887, 10725, 2496, -627, 1427, 5438), _LIBRAW),
    ("Panasonic DC-GH5", (7641, -2336, -605, -3218, 11299, 2187, -485, 1338, 5121), _LIBRAW),
    ("Pentax K-5", (8713, -2833, -743, -4342, 11900, 2772, -722, 1543, 6247), _LIBRAW),
    ("Leica M9", (6687, -1751, -291, -3556, 11373, 2492, -548, 2204, 7146), _LIBRAW),
    ("Nikon Z 7", (13705, -6004, -1400, -5464, 13568, 2062, -940, 1706, 7618), _LIBRAW),
    ("Sony ILCE-7M3", (7374, -2389, -551, -5435, 13162, 2519, -1006, 1795, 6552), _LIBRAW),
    ("Sony DSC-RX100", (8651, -2754, -1057, -3464, 12207, 1373, -568, 1398, 4434), _LIBRAW),
    ("Samsung Galaxy S9", (13292, -6142, -1268, -4095, 12890, 1283, -557, 1930, 5163), _LIBRAW),
    ("Raspberry Pi IMX219", (5302, 1083, -728, -5320, 14112, 1699, -863, 2371, 5136), _LIBRAW + " (LibRaw's own)"),
    ("Motorola PIXL", (8898, -989, -1033, -3292, 11619, 1674, -661, 3178, 5216), _LIBRAW + " (DJC)"),
    ("Phase One IQ180", (6294, 686, -712, -5435, 13417, 2211, -1006, 2435, 5042), _LIBRAW),
    ("Mamiya ZD", (7645, 2579, -1363, -8689, 16717, 2015, -3712, 5941, 5961), _LIBRAW),
    ("Kodak DCS Pro SLR", (5494, 2393, -232, -6427, 13850, 2846, -1876, 3997, 5445), _LIBRAW),
    ("Hasselblad L1D-20c", (7310, -2746, -646, -2991, 10847, 2469, 163, 585, 6324), _LIBRAW),
)  # fmt: skip


@dataclass(frozen=True)
class BankMatrix:
    """One real body's D65 XYZ -> camera matrix (row-major, Adobe convention) and where it comes from."""

    camera: str
    xyz_to_cam_d65: tuple[float, ...]
    source: str

    @property
    def matrix(self) -> np.ndarray:
        """``(3, 3)`` float64."""
        return np.asarray(self.xyz_to_cam_d65, dtype=np.float64).reshape(3, 3)


def _bank() -> tuple[BankMatrix, ...]:
    profiles = [get_profile(n) for n in TUNING_PROFILES]
    tuning = tuple(BankMatrix(p.model, p.xyz_to_cam_d65, f"simulated profile {p.profile_id}") for p in profiles)
    others = tuple(BankMatrix(name, tuple(c / 10000.0 for c in m), src) for name, m, src in _OTHER_BODIES)
    return tuning + others


#: The tuning cameras' matrices and :data:`_OTHER_BODIES`.
BANK: tuple[BankMatrix, ...] = _bank()


@dataclass(frozen=True)
class ColourSpread:
    """How a training sample's XYZ -> camera matrix is drawn."""

    #: Probability that a sample's profile matrix is replaced by a drawn one.
    p: float = 0.5
    #: Standard deviation of each entry of the near-identity channel-mixing factor.
    perturbation: float = 0.05
    #: Relative widening of the bank's ranges (D65 response, condition number) a drawn matrix must stay in.
    margin: float = 0.1
    #: Draws tried before falling back to an unperturbed bank matrix.
    max_tries: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise BadInputError(f"colour spread probability must be in [0, 1], got {self.p}")
        if self.perturbation < 0 or self.margin < 0 or self.max_tries < 1:
            raise BadInputError("colour spread perturbation and margin must be >= 0, tries >= 1")


def d65_response(m: np.ndarray) -> np.ndarray:
    """The camera's response to D65 white (XYZ of sRGB white), unnormalised."""
    return m @ (srgb_to_xyz_matrix() @ np.ones(3))


def normalise_to_d65_green(m: np.ndarray) -> np.ndarray:
    """``m`` scaled so D65 white gives G = 1: Adobe matrices carry arbitrary scales, and mixing two matrices should
    weigh their colour responses, not their scales."""
    return m / d65_response(m)[1]


@dataclass(frozen=True)
class _Bounds:
    """What a plausible drawn matrix satisfies: R/G and B/G of its D65 response, and its condition number."""

    red: tuple[float, float]
    blue: tuple[float, float]
    max_condition: float


@cache
def _bounds(margin: float) -> _Bounds:
    mats = [normalise_to_d65_green(b.matrix) for b in BANK]

    def widened(channel: int) -> tuple[float, float]:
        v = [float(d65_response(m)[channel]) for m in mats]
        return min(v) / (1 + margin), max(v) * (1 + margin)

    return _Bounds(widened(0), widened(2), max(float(np.linalg.cond(m)) for m in mats) * (1 + margin))


def plausible(m: np.ndarray, margin: float) -> bool:
    """True when a G-normalised matrix's D65 response and condition number lie in the bank's widened ranges."""
    b = _bounds(margin)
    r, _, bl = d65_response(m)
    return bool(
        np.all(np.isfinite(m))
        and np.linalg.det(m) > 0
        and b.red[0] <= r <= b.red[1]
        and b.blue[0] <= bl <= b.blue[1]
        and np.linalg.cond(m) <= b.max_condition
    )


def sample_xyz_to_cam(rng: np.random.Generator, spread: ColourSpread) -> tuple[float, ...]:
    """A plausible D65 XYZ -> camera matrix (row-major, D65 white -> G = 1): a convex mix of two bank matrices
    times ``I + N(0, perturbation²)``; after ``max_tries`` rejections, one bank matrix as it is."""
    for _ in range(spread.max_tries):
        i, j = rng.choice(len(BANK), size=2, replace=False)
        a = rng.uniform()
        mix = a * normalise_to_d65_green(BANK[i].matrix) + (1 - a) * normalise_to_d65_green(BANK[j].matrix)
        # Left multiplication mixes the camera's channels: the crosstalk and dye differences between sensors.
        m = normalise_to_d65_green((np.eye(3) + rng.normal(0.0, spread.perturbation, (3, 3))) @ mix)
        if plausible(m, spread.margin):
            return tuple(float(v) for v in m.ravel())
    fallback = normalise_to_d65_green(BANK[int(rng.integers(len(BANK)))].matrix)
    return tuple(float(v) for v in fallback.ravel())
