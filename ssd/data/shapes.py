"""Geometry of the synthetic object classes: exact binary masks of rotated shapes.

Every shape is defined by its centre (cx, cy), its circumradius R (half the "size" of the object,
so objects of size 32–320 px have R = 16–160) and a rotation θ. A pixel (row r, column c) belongs to a
shape when its centre point (x = c, y = r) lies inside the shape, so a mask is exact: the pixels that
are painted are the pixels that are annotated.
"""
import math

import numpy as np
from skimage.draw import polygon as fill_polygon

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")


def _rotate(points: np.ndarray, theta: float) -> np.ndarray:
    """points [K,2] (x, y) rotated by theta around the origin."""
    c, s = math.cos(theta), math.sin(theta)
    return points @ np.array([[c, s], [-s, c]])


def outline(shape: str, radius: float, theta: float, params: dict) -> np.ndarray:
    """Polygon vertices [K,2] (x, y) around the origin of a polygonal shape with circumradius `radius`.

    square: corners at radius R; triangle: equilateral, corners at R; star: 5 points at R, inner
    corners at R·params["inner"]; cross: a plus sign whose arm ends (half-width R·params["arm"]) touch
    the circle of radius R.
    """
    if shape == "square":
        angles = np.arange(4) * math.pi / 2 + math.pi / 4
        pts = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif shape == "triangle":
        angles = np.arange(3) * 2 * math.pi / 3 - math.pi / 2
        pts = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif shape == "star":
        angles = np.arange(10) * math.pi / 5 - math.pi / 2
        r = np.where(np.arange(10) % 2 == 0, radius, radius * params["inner"])
        pts = np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)
    elif shape == "cross":
        w = radius * params["arm"]
        length = radius * math.sqrt(1 - params["arm"] ** 2)
        pts = np.array([(w, w), (length, w), (length, -w), (w, -w), (w, -length), (-w, -length),
                        (-w, -w), (-length, -w), (-length, w), (-w, w), (-w, length), (w, length)])
    else:
        raise ValueError(f"{shape!r} is not a polygonal shape")
    return _rotate(pts, theta)


def mask(shape: str, cx: float, cy: float, radius: float, theta: float, params: dict,
         size: tuple) -> np.ndarray:
    """Binary mask bool [H,W] of one shape (see the module docstring); `size` = (H, W).

    circle: |p - c| ≤ R; ring: R·params["hole"] ≤ |p - c| ≤ R; the others: inside `outline`.
    """
    h, w = size
    out = np.zeros((h, w), dtype=bool)
    if shape in ("circle", "ring"):
        r0, r1 = max(0, int(math.floor(cy - radius))), min(h, int(math.ceil(cy + radius)) + 1)
        c0, c1 = max(0, int(math.floor(cx - radius))), min(w, int(math.ceil(cx + radius)) + 1)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        inside = d2 <= radius ** 2
        if shape == "ring":
            inside &= d2 >= (radius * params["hole"]) ** 2
        out[r0:r1, c0:c1] = inside
        return out
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")
    pts = outline(shape, radius, theta, params) + np.array([cx, cy])
    # fill inside the polygon's bounding window only (same pixels, much less work)
    r0, c0 = max(0, int(math.floor(pts[:, 1].min()))), max(0, int(math.floor(pts[:, 0].min())))
    r1, c1 = min(h, int(math.ceil(pts[:, 1].max())) + 1), min(w, int(math.ceil(pts[:, 0].max())) + 1)
    if r1 <= r0 or c1 <= c0:
        return out
    rr, cc = fill_polygon(pts[:, 1] - r0, pts[:, 0] - c0, shape=(r1 - r0, c1 - c0))
    out[rr + r0, cc + c0] = True
    return out


def random_params(shape: str, rng: np.random.Generator) -> dict:
    """Shape-specific proportions, drawn in ranges that keep the classes distinct."""
    if shape == "star":
        return {"inner": float(rng.uniform(0.38, 0.5))}
    if shape == "cross":
        return {"arm": float(rng.uniform(0.2, 0.32))}
    if shape == "ring":
        return {"hole": float(rng.uniform(0.45, 0.68))}
    return {}
