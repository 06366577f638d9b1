"""A small example module to try superpose-ls on."""

import math
from dataclasses import dataclass


@dataclass
class Circle:
    radius: float

    def area(self) -> float:
        return math.pi * self.radius**2

    def perimeter(self) -> float:
        return 2 * math.pi * self.radius


def total_area(shapes: list[Circle]) -> float:
    total = 0.0
    for shape in shapes:
        total += shape.
    return total
