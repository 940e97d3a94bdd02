"""Assortments: which catalogue items each customer may order; an umbrella's assortment is
inherited by the customers below it unless they have their own."""

from portalkit.assortments.model import Assortment, AssortmentMode
from portalkit.assortments.service import AssortmentService, Reach

__all__ = ["Assortment", "AssortmentMode", "AssortmentService", "Reach"]
