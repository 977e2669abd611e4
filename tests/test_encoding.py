import numpy as np
import pytest

from ofx_dipmatte.encoding import KNEE, decode, encode, prepare_image


def test_encode_is_identity_below_knee_and_bounded_above():
    x = np.array([0.0, 0.25, KNEE, 1.0, 4.0, 1000.0], np.float32)
    y = encode(x)
    np.testing.assert_allclose(y[:3], x[:3])
    assert np.all(np.diff(y) > 0) and y.max() < 1.0


def test_decode_inverts_encode():
    x = np.linspace(0, 20, 500).astype(np.float32)
    np.testing.assert_allclose(decode(encode(x)), x, rtol=1e-3, atol=1e-5)


def test_prepare_image_dtypes():
    u8 = np.full((2, 2, 4), 255, np.uint8)
    caller, working, is_float = prepare_image(u8)
    assert caller.shape == (2, 2, 3) and np.all(caller == 1.0) and not is_float
    hdr = np.full((2, 2, 3), 5.0, np.float32)
    caller, working, is_float = prepare_image(hdr)
    assert is_float and np.all(caller == 5.0) and working.max() < 1.0


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 4, 2)), "H×W×3"),  # a grey H×W is a plate (test_matte); two channels are not
    (np.zeros(4), "H×W×3"),
    (np.zeros((0, 4, 3)), "empty"),
    (np.full((2, 2, 3), np.inf, np.float32), "NaN or Inf"),
    (np.array([[[0.5, 2e15, 0.5], [0.5, 0.5, 0.5]]], np.float32), r"1 pixel\(s\) above 1e\+15 .*up to 2e\+15.*Clamp"),
    (np.array([[[0.5, -1e30, 0.5], [np.nan, 0.5, 0.5]]], np.float32), "1 pixel.* NaN or Inf"),
    (np.zeros((2, 2, 3), np.int32), "dtype"),
])
def test_prepare_image_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        prepare_image(bad)
