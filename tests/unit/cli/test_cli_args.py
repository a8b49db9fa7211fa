"""The argument types the ``edgecheck`` commands share (`edgecheck.cli.args`)."""

from __future__ import annotations

import argparse

import pytest

from edgecheck.cli.args import image_shape, input_shape, positive_int


@pytest.mark.parametrize(("text", "shape"), [("3,224,224", (3, 224, 224)), ("1x64x64", (1, 64, 64)),
                                             ("16", (16,))])  # fmt: skip
def test_input_shape_takes_positive_sizes_by_commas_or_x(text, shape):
    assert input_shape(text) == shape


@pytest.mark.parametrize("text", ["", "a", "3,,4", "0,1", "3,-1", "3.5"])
def test_input_shape_refuses_anything_else_in_one_message(text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be positive sizes separated by"):
        input_shape(text)


def test_image_shape_is_exactly_three_sizes():
    assert image_shape("3,112,112") == (3, 112, 112)
    for text in ("3,112", "3,112,112,1", "3,0,1", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be C,H,W with positive sizes"):
            image_shape(text)


def test_positive_int():
    assert positive_int("4") == 4
    for text in ("0", "-2", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be a whole number >= 1"):
            positive_int(text)
