"""Prices per customer: price lists with fixed-price and percentage rules per item or
category, quantity tiers and validity dates, assigned to customers and customer groups; one
resolver (:func:`~portalkit.pricing.model.resolve`) and a per-request :class:`PriceBook`."""

from portalkit.pricing.model import PriceDecision, PriceList, PriceRule, RuleKind
from portalkit.pricing.service import PriceBook, PricingService

__all__ = ["PriceBook", "PriceDecision", "PriceList", "PriceRule", "PricingService", "RuleKind"]
