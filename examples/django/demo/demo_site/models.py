"""The demo's orders: the host's own table, read by Django's ORM."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    """A transport order of one of the vendor's customers."""

    customer_id = models.UUIDField(db_index=True)
    reference = models.CharField(max_length=30, unique=True)
    pickup = models.CharField(max_length=80)
    delivery = models.CharField(max_length=80)
    rate = models.DecimalField(max_digits=9, decimal_places=2)
    placed_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.reference)
