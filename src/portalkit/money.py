"""Money: ISO 4217 currency codes, their minor units, and checking amounts (never floats)."""

from __future__ import annotations

import contextlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from portalkit.errors import Problem

__all__ = ["CURRENCIES", "MAX_AMOUNT", "amount", "currency", "minor_units", "rounded"]

# ISO 4217 active codes (2024). Those with other than two minor units are listed below.
CURRENCIES: frozenset[str] = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWL",
    ]
)
"""The ISO 4217 currency codes a price may be in."""

MAX_AMOUNT = Decimal("1000000000000")
"""Amounts are below this (a trillion), with at most four decimals."""

_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def minor_units(code: str) -> int:
    """The number of decimals an amount in currency ``code`` has (ISO 4217)."""
    return _MINOR_UNITS.get(code, 2)


# The minor unit of each currency as a quantum, made once: a page of prices rounds fifty
# times and each rounding made its quantum anew.
_QUANTA = {code: Decimal(1).scaleb(-units) for code, units in _MINOR_UNITS.items()}
_CENT = Decimal("0.01")


def rounded(value: Decimal, code: str) -> Decimal:
    """``value`` rounded half up to the minor unit of currency ``code``."""
    return value.quantize(_QUANTA.get(code, _CENT), rounding=ROUND_HALF_UP)


def currency(problems: list[Problem], field: str, value: object) -> str:
    """Check an ISO 4217 code (upper case, as ``"EUR"``)."""
    if not isinstance(value, str) or value not in CURRENCIES:
        problems.append(Problem(field, "invalid_currency", "must be an ISO 4217 currency code"))
        return ""
    return value


def amount(
    problems: list[Problem], field: str, value: object, *, negative: bool = False
) -> Decimal:
    """Check an amount: a ``Decimal``, an ``int`` or decimal text — never a float — finite,
    below :data:`MAX_AMOUNT` in size, with at most four decimals (not below zero unless
    ``negative``)."""
    number = Decimal("NaN")
    if isinstance(value, Decimal | int | str) and not isinstance(value, bool):
        # Text is cut first: no megabyte string is parsed.
        with contextlib.suppress(InvalidOperation, ValueError):
            number = Decimal(value[:41].strip() if isinstance(value, str) else value)
    if (isinstance(value, str) and len(value) > 40) or not number.is_finite():
        problems.append(
            Problem(field, "not_amount", "must be a decimal amount (a Decimal, not a float)")
        )
        return Decimal(0)
    if abs(number) >= MAX_AMOUNT or number.as_tuple().exponent < -4:  # type: ignore[operator]
        problems.append(
            Problem(field, "out_of_range", "must be below a trillion with at most four decimals")
        )
        return Decimal(0)
    if number < 0 and not negative:
        problems.append(Problem(field, "out_of_range", "must be 0 or more"))
        return Decimal(0)
    return number
