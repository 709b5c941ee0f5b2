"""Camera metadata read from real files: values, sources, fallbacks and plausibility."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import rawpy

from conftest import D30, DATA, DC50, EOS550D
from core_isp.colour import ccm_from_xyz_to_cam, dng_xyz_to_cam_d65, neutral_from_wb_gains
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io import read_image_metadata, read_raw, read_raw_metadata
from core_isp.io.exif import read_exif
from core_isp.metadata import CameraMetadata, plausible


@pytest.fixture(scope="module")
def d30():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = read_raw(D30)
    return raw, [str(w.message) for w in caught]


def test_d30_layout_levels_and_exposure(d30):
    raw, _ = d30
    m = raw.meta
    assert (m.make, m.model) == ("Canon", "Canon EOS D30")
    assert m.cfa_pattern == "RGGB"
    assert m.black_level_per_site == (127, 128, 128, 128)
    assert m.white_level == 4095
    assert m.saturation_level == 3868  # the sensor's ceiling, below the nominal white level
    assert m.iso == 100
    assert m.exposure_time_s == pytest.approx(5.04, rel=0.01)
    assert m.f_number == pytest.approx(5.657, rel=0.01)
    assert m.focal_length_mm == pytest.approx(31, rel=0.01)
    assert "APEX" in m.exposure_time_source and "APEX" in m.f_number_source
    assert m.default_crop_tlhw == (6, 8, 1440, 2160)
    assert raw.mosaic.shape == (1448, 2176) and raw.mosaic.dtype == np.float32


def test_d30_falls_back_to_daylight_wb_with_warning(d30):
    raw, messages = d30
    assert raw.meta.wb_source == "daylight"
    np.testing.assert_allclose(raw.meta.wb_gains, (2.10, 1.0, 1.06), atol=0.01)
    assert any("daylight" in msg for msg in messages)


def test_d30_mosaic_is_black_subtracted_per_site_and_not_clipped(d30):
    raw, _ = d30
    with rawpy.imread(str(D30)) as r:
        v = r.raw_image_visible.astype(np.float64)
    black = np.array([[127, 128], [128, 128]], dtype=np.float64)
    expected = (v[:2, :4] - np.tile(black, (1, 2))) / (4095 - np.tile(black, (1, 2)))
    np.testing.assert_allclose(raw.mosaic[:2, :4], expected, rtol=1e-6)
    assert raw.mosaic.min() < 0  # read noise below black is kept


def test_d30_ccm_rows_sum_to_one_and_match_dcraw_construction(d30):
    raw, _ = d30
    ccm = np.array(raw.meta.ccm_wb_cam_to_srgb)
    np.testing.assert_allclose(ccm.sum(axis=1), 1.0, atol=1e-9)
    with rawpy.imread(str(D30)) as r:
        np.testing.assert_allclose(ccm, ccm_from_xyz_to_cam(r.rgb_xyz_matrix[:3]), atol=1e-12)
    assert raw.meta.ccm_source == "LibRaw rgb_xyz_matrix"


def test_kodak_dc50_grbg_no_iso_no_matrix():
    with pytest.warns(MetadataWarning):
        m = read_raw(DC50).meta
    assert m.cfa_pattern == "GRBG"
    assert m.iso is None and m.iso_source is None
    assert m.ccm_wb_cam_to_srgb is None
    assert m.exposure_time_s == pytest.approx(0.00435)
    assert m.f_number == pytest.approx(6.2)
    assert m.focal_length_mm == pytest.approx(37)
    assert m.wb_source == "estimated"  # LibRaw only has placeholder multipliers of 1.0


def test_550d_dng_matrix_and_as_shot_wb():
    with pytest.warns(MetadataWarning):  # its EXIF optics are all zero: implausible -> None
        m = read_raw(EOS550D).meta
    assert m.wb_source == "as_shot"
    np.testing.assert_allclose(m.wb_gains, (2.477, 1.0, 1.694), rtol=0.005)
    assert m.ccm_source.startswith("DNG ColorMatrix1")
    ccm = np.array(m.ccm_wb_cam_to_srgb)
    np.testing.assert_allclose(ccm.sum(axis=1), 1.0, atol=1e-9)
    # Without the white-point adaptation, our dcraw-style construction reproduces LibRaw's rgb_cam
    # for the file's own ColorMatrix1; the reader additionally adapts the as-shot white to D65.
    with rawpy.imread(str(EOS550D)) as r:
        libraw_rgb_cam = r.color_matrix[:, :3]
    cm1 = read_exif(EOS550D).dng.color_matrix_1
    np.testing.assert_allclose(ccm_from_xyz_to_cam(np.array(cm1)), libraw_rgb_cam, atol=1e-3)
    xyz_to_cam, _ = dng_xyz_to_cam_d65(cm1, neutral_from_wb_gains(m.wb_gains))
    np.testing.assert_allclose(ccm, ccm_from_xyz_to_cam(xyz_to_cam), atol=1e-9)
    assert m.exposure_time_s is None and m.iso is None and m.f_number is None and m.focal_length_mm is None


def test_json_round_trip(d30):
    m = d30[0].meta
    again = CameraMetadata.from_json(m.to_json())
    assert again == m
    assert json.loads(m.to_json())["cfa_pattern"] == "RGGB"


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(BadInputError, match="unknown metadata fields"):
        CameraMetadata.from_dict({"iso_speed": 100})


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("iso", 24.0, False),
        ("iso", 25.0, True),
        ("iso", 409600.0, True),
        ("iso", 65535.0 * 10, False),
        ("exposure_time_s", 0.0, False),
        ("exposure_time_s", 1e-6, True),
        ("exposure_time_s", 3601.0, False),
        ("f_number", 0.64, False),
        ("f_number", 128.0, True),
        ("focal_length_mm", 0.0, False),
        ("focal_length_mm", 2000.0, True),
        ("iso", math.nan, False),
    ],
)
def test_plausibility_rule(name, value, kept):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v, src = plausible(name, value, "EXIF test")
    assert (v is not None) == kept
    assert (src is not None) == kept
    assert bool(caught) != kept


def test_invalid_fields_are_rejected():
    with pytest.raises(BadInputError):
        CameraMetadata(cfa_pattern="RGBG")
    with pytest.raises(BadInputError):
        CameraMetadata(wb_gains=(2.0, 1.1, 1.5))
    with pytest.raises(BadInputError):
        CameraMetadata(wb_source="guessed")


# Expected values transcribed from shared/data/SOURCES.md (ExifTool readings). None = not recorded.
# Columns: make, model, iso, exposure_time_s, f_number, focal_length_mm.
EXIF_EXPECTED = {
    "Canon_40D.jpg": ("Canon", "Canon EOS 40D", 100, 0.00625, 7.1, 135),
    "Canon_DIGITAL_IXUS_400.jpg": ("Canon", "Canon DIGITAL IXUS 400", 50, 0.005, 10, 15.4375),
    "Canon_PowerShot_S40.jpg": ("Canon", "Canon PowerShot S40", 100, 0.002, 4.9, 21.3125),
    "Fujifilm_FinePix6900ZOOM.jpg": ("FUJIFILM", "FinePix6900ZOOM", 100, None, 4, 21.8),
    "Fujifilm_FinePix_E500.jpg": ("FUJIFILM", "FinePix E500", 100, 0.0125, 2.9, 4.7),
    "Kodak_CX7530.jpg": ("EASTMAN KODAK COMPANY", "KODAK CX7530 ZOOM DIGITAL CAMERA", None, 0.004, 4.6, 16.8),
    "Konica_Minolta_DiMAGE_Z3.jpg": ("KONICA MINOLTA", "DiMAGE Z3", 200, 0.025, 2.8, 5.859375),
    "Nikon_COOLPIX_P1.jpg": ("NIKON", "COOLPIX P1", 50, 0.004572473708, 6, 7.5),
    "Nikon_D70.jpg": ("NIKON CORPORATION", "NIKON D70", 200, 0.005, 9, 100),
    "Olympus_C8080WZ.jpg": ("OLYMPUS CORPORATION", "C8080WZ", 50, 0.00625, 2.8, 15.8),
    "Panasonic_DMC-FZ30.jpg": ("Panasonic", "DMC-FZ30", 100, 0.03333333333, 3.2, 14.1),
    "Pentax_K10D.jpg": ("PENTAX Corporation", "PENTAX K10D", 200, 0.005555555556, 11, 90),
    "Ricoh_Caplio_RR330.jpg": ("Caplio", "RR330", 100, 0.0303030303, 2.88, None),
    "Samsung_Digimax_i50_MP3.jpg": ("Samsung Techwin", None, 150, 0.1666666667, 3.5, 6.6),
    "Sony_HDR-HC3.jpg": ("SONY", "HDR-HC3", None, 0.01666666667, 4, 5.1),
    "Sony_alpha_a58.JPG": ("SONY", "SLT-A58", 100, 0.01, 5.6, 300),
    "WWL_Polaroid_ION230.jpg": ("WWL", "ION230", 100, 0.03003003003, 2.8, 8.4),
    "canon-ixus.jpg": ("Canon", "Canon DIGITAL IXUS", 64.8419777325505, 0.002857142857, 4, 10.8125),
    # SOURCES.md lists ISO 65535 ("unknown" in EXIF): the plausibility rule turns it into None. It
    # also lists f/3.9 and 0.03111 s: ExifTool prefers Kodak's maker note, while the EXIF FNumber and
    # ExposureTime tags themselves hold 4/1 and 1/30.
    "kodak-dc240.jpg": ("EASTMAN KODAK COMPANY", "KODAK DC240 ZOOM DIGITAL CAMERA", None, 1 / 30, 4, 14),
    "fujifilm-dx10.jpg": ("FUJIFILM", "DX-10", 150, None, 4.2, 5.8),
    "nikon-e950.jpg": ("NIKON", "E950", 80, 0.01298701299, 5.5, 12.8),
    "sony-d700.jpg": ("SONY", "DSC-D700", 200, None, None, None),
    "DSCN0010.jpg": ("NIKON", "COOLPIX P6000", 64, 0.01333333333, 5.9, 24),
    "imagemeta_gopro_hero4.jpg": ("GoPro", "HERO4 Silver", 113, 0.01666666667, 2.8, 3),
}


@pytest.mark.parametrize("name", sorted(EXIF_EXPECTED))
def test_exif_samples_match_sources(name):
    make, model, iso, t, n, f = EXIF_EXPECTED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        m = read_image_metadata(DATA / "exif" / name)
    assert m.make == make
    if model is not None:
        assert m.model == model
    for field, want in (("iso", iso), ("focal_length_mm", f)):
        got = getattr(m, field)
        if want is None:
            assert got is None, f"{field}: expected unknown, got {got}"
        else:
            assert got == pytest.approx(want, rel=1e-3), field
    # Where ExifTool reports no ExposureTime/FNumber tag, ours may come from the APEX
    # ShutterSpeedValue/ApertureValue, and must then say so.
    for field, want, tag in (("exposure_time_s", t, "ExposureTime"), ("f_number", n, "FNumber")):
        got, source = getattr(m, field), getattr(m, field.removesuffix("_s") + "_source")
        if want is None:
            assert got is None or "APEX" in source, field
        else:
            assert got == pytest.approx(want, rel=1e-3), field
            assert source == f"EXIF {tag}"


def test_jpeg_without_exif_gives_none_and_warns(tmp_path):
    from PIL import Image

    p = tmp_path / "plain.jpg"
    Image.new("RGB", (16, 12), (120, 60, 30)).save(p)
    with pytest.warns(MetadataWarning, match="no EXIF"):
        m = read_image_metadata(p)
    assert m.missing_optics() == ["iso", "exposure_time_s", "f_number", "focal_length_mm"]
    assert m.make is None and m.orientation == 1


def test_metadata_only_files_are_described(shared_data):
    """Every stub in raw_metadata_only yields metadata (with a warning), never pixels."""
    files = sorted((shared_data / "raw_metadata_only").iterdir())
    assert len(files) >= 10
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = read_raw_metadata(path)
        assert m.make, path.name
        assert caught, f"{path.name}: no warning about the missing pixels"
        with pytest.raises(BadInputError):
            read_raw(path)


def test_iso_65535_resolved_from_recommended_exposure_index(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        m = read_raw_metadata(shared_data / "raw_metadata_only" / "exifpy_nikon_z9_HE_dx_cropped.dng")
    assert m.iso == 102400 and m.iso_source == "EXIF RecommendedExposureIndex"


def test_a_raw_cut_short_before_its_header_is_named_as_possibly_truncated(tmp_path) -> None:
    """Canon's CIFF keeps its directory at the end: a cut-off CRW is not even recognised, and the error says that a
    truncated file is one of the reasons, not only "unsupported"."""
    from core_isp.io import read_raw

    whole = Path(__file__).parent / "data" / "raw" / "canon_eos_d30.crw"
    cut = tmp_path / "cut.crw"
    cut.write_bytes(whole.read_bytes()[:1_000_000])
    with pytest.raises(BadInputError, match=r"cut\.crw: .*cut short before its header"):
        read_raw(cut)

