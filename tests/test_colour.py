"""Colour-matrix construction: dcraw convention, DNG interpolation and the DNG-output reverse conversion."""

from __future__ import annotations

import colour
import numpy as np
import pytest

from core_isp.colour import (
    ccm_from_xyz_to_cam,
    dng_xyz_to_cam_d65,
    neutral_from_wb_gains,
    srgb_to_xyz_matrix,
    wb_gains_from_neutral,
    xyz_to_cam_from_ccm,
)

# Adobe's D65 matrix for the Canon EOS D30 (LibRaw's rgb_xyz_matrix for that camera).
D30_XYZ_TO_CAM = np.array([[0.99, -0.2771, -0.1324], [-0.7072, 1.4229, 0.314], [-0.279, 0.3344, 0.8861]])
_OBSERVER = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]


def test_ccm_rows_sum_to_one():
    ccm = ccm_from_xyz_to_cam(D30_XYZ_TO_CAM)
    np.testing.assert_allclose(ccm.sum(axis=1), 1.0, atol=1e-12)


def test_wb_neutral_round_trip():
    wb = (2.477, 1.0, 1.694)
    np.testing.assert_allclose(wb_gains_from_neutral(neutral_from_wb_gains(wb)), wb, rtol=1e-12)


def test_dng_output_matrix_reads_back_to_the_same_ccm():
    ccm = ccm_from_xyz_to_cam(D30_XYZ_TO_CAM)
    wb = (2.1, 1.0, 1.06)
    cm1 = xyz_to_cam_from_ccm(ccm, wb)
    xyz_to_cam, cct = dng_xyz_to_cam_d65(cm1.reshape(-1), neutral_from_wb_gains(wb), illuminant_1=21)
    assert cct == pytest.approx(6504, abs=5)  # the written neutral is D65 white through the matrix
    np.testing.assert_allclose(ccm_from_xyz_to_cam(xyz_to_cam), ccm, atol=1e-9)


def test_neutral_at_d65_needs_no_adaptation():
    d65 = srgb_to_xyz_matrix() @ np.ones(3)
    neutral = D30_XYZ_TO_CAM @ d65
    xyz_to_cam, _ = dng_xyz_to_cam_d65(D30_XYZ_TO_CAM.reshape(-1), neutral)
    np.testing.assert_allclose(xyz_to_cam, D30_XYZ_TO_CAM, atol=1e-9)


def test_two_matrices_interpolate_to_the_one_matching_the_white():
    cm_a = D30_XYZ_TO_CAM * np.array([[1.2], [1.0], [0.7]])  # a different matrix for illuminant A
    neutral_a = cm_a @ colour.xy_to_XYZ(_OBSERVER["A"])
    xyz_to_cam, cct = dng_xyz_to_cam_d65(cm_a.reshape(-1), neutral_a, D30_XYZ_TO_CAM.reshape(-1), 17, 21)
    assert cct == pytest.approx(2856, abs=30)
    # At the A white the interpolation picks matrix 1; adapting A -> D65 maps D65 white to the neutral.
    np.testing.assert_allclose(xyz_to_cam @ (srgb_to_xyz_matrix() @ np.ones(3)), neutral_a, rtol=1e-3)
    # And the resulting CCM sends that neutral (white-balanced) to sRGB white.
    ccm = ccm_from_xyz_to_cam(xyz_to_cam)
    np.testing.assert_allclose(ccm @ np.ones(3), np.ones(3), atol=1e-9)
