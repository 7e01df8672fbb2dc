"""Geometry helpers for the notebook."""
import math

from toolz import curry


@curry
def scale(factor, point):
    return (point[0] * factor, point[1] * factor)


def length(points):
    return sum(math.dist(a, b) for a, b in zip(points, points[1:]))
