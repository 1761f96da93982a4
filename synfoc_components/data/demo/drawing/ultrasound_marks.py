"""Scanner overlays of the BUSI phantom: caliper crosses at the lesion borders and text annotations.

Many real BUSI images carry the sonographer's measurement calipers (small bright "+" marks on the lesion border)
and burnt-in text (side, clock position, distance from the nipple, probe orientation). They are drawn on the final
8-bit image; the masks do not change.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CALIPER_EVERY", "TEXT_EVERY", "annotate", "draw_calipers", "draw_text"]

CALIPER_EVERY = 0.6
"""Fraction of lesion images with calipers."""
TEXT_EVERY = 0.7
"""Fraction of images with text annotations."""

_GLYPHS = {  # 3 x 5 pixel font, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", ":": "000010000010000", ".": "000000000000010",
    " ": "000000000000000", "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "D": "110101101101110", "E": "111100110100111", "F": "111100110100100", "G": "011100101101011",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010",
}  # fmt: skip


def _glyphs(text: str, scale: int) -> np.ndarray:
    """The bitmap (bool, 5 * scale rows) of ``text`` in the 3 x 5 font, one blank column between characters."""
    columns = []
    for char in text:
        glyph = np.array([bit == "1" for bit in _GLYPHS[char]]).reshape(5, 3)
        columns += [glyph, np.zeros((5, 1), bool)]
    return np.kron(np.concatenate(columns, axis=1), np.ones((scale, scale), bool))


def draw_text(image: np.ndarray, text: str, row: int, col: int, value: int, scale: int = 1) -> None:
    """Burn ``text`` into ``image`` (uint8, in place) with its top-left corner at ``(row, col)``, clipped."""
    bitmap = _glyphs(text, scale)[: max(0, image.shape[0] - row), : max(0, image.shape[1] - col)]
    image[row : row + bitmap.shape[0], col : col + bitmap.shape[1]][bitmap] = value


def _cross(image: np.ndarray, row: int, col: int, arm: int, value: int) -> None:
    """A ``+`` of half-length ``arm`` centred at ``(row, col)``, clipped to the image."""
    image[row, max(0, col - arm) : col + arm + 1] = value
    image[max(0, row - arm) : row + arm + 1, col] = value


def draw_calipers(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Caliper crosses on ``mask``'s border: both ends of the row through its centre, often of the column too."""
    size, (rows, cols) = image.shape[0], np.nonzero(mask)
    row, col = int(round(rows.mean())), int(round(cols.mean()))
    across, down = np.flatnonzero(mask[row]), np.flatnonzero(mask[:, col])
    points = [(row, across[0]), (row, across[-1])] if across.size else []
    if down.size and rng.random() < 0.7:
        points += [(down[0], col), (down[-1], col)]
    arm, value = max(2, round(size / 85)), int(rng.integers(225, 256))
    for r, c in points:
        jitter = rng.integers(-1, 2, 2)
        _cross(image, int(np.clip(r + jitter[0], 0, size - 1)), int(np.clip(c + jitter[1], 0, size - 1)), arm, value)


def _caption(rng: np.random.Generator) -> list[str]:
    """One or two lines as a scanner burns them in: side, clock position and distance, probe orientation."""
    side = str(rng.choice(["RT BREAST", "LT BREAST", "RT", "LT"]))
    where = f"{rng.integers(1, 13)}:00 {rng.integers(1, 7)}CM FN"
    plane = str(rng.choice(["RAD", "ARAD", "TRANS", "SAG"]))
    return [side, f"{where} {plane}"] if rng.random() < 0.6 else [f"{side} {plane}"]


def annotate(image: np.ndarray, masks: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Add calipers (lesion images, not below 48 pixels) and text (images of 128 pixels or more) to a copy."""
    image, size = image.copy(), image.shape[0]
    if masks and size >= 48 and rng.random() < CALIPER_EVERY:
        for mask in (m for m in masks if m.any()):
            draw_calipers(image, mask, rng)
    if size >= 128 and rng.random() < TEXT_EVERY:
        scale, value = max(1, round(size / 256)), int(rng.integers(200, 256))
        top, left = rng.random() < 0.5, rng.random() < 0.5  # a corner: top over the skin, bottom over the muscle
        for k, line in enumerate(_caption(rng)):
            row = 2 * scale + 7 * scale * k if top else size - 7 * scale * (2 - k)
            col = 2 * scale if left else size - 4 * scale * len(line) - 2 * scale
            draw_text(image, line, row, col, value, scale)
    return image
