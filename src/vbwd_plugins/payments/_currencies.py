"""ISO 4217 currency exponents (minor units), as data.

Source: ISO 4217 "List one: Currency, fund and precious metal codes", as published by the
maintenance agency SIX Group in ``list_one.xml`` (``<ISO_4217 Pblshd="2025-05-12">``),
column ``CcyMnrUnts``. Every code with a numeric minor unit is listed, including the fund
codes (``BOV CHE CHW CLF COU MXV USN UYI UYW``), because providers and ledgers do meet
them. Codes whose minor unit is "N.A." (precious metals ``XAG XAU XPD XPT``, bond-market
units ``XBA``-``XBD``, ``XDR XSU XUA XAD``, the test code ``XTS`` and "no currency"
``XXX``) are deliberately absent: an amount in them cannot be expressed in minor units,
so :class:`~vbwd_plugins.Money` rejects them as unknown.

Withdrawn codes (``HRK``, ``ANG``, ``CUC``, ``SLL``, ``ZWL``, ``VEF``, ``MRO``, ``STD``
...) are absent too. When ISO publishes an amendment, update the table and the date above.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ISO_4217_EXPONENTS", "ISO_4217_PUBLISHED"]

#: Publication date of the ``list_one.xml`` this table was taken from.
ISO_4217_PUBLISHED: Final = "2025-05-12"

_ZERO: Final = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE: Final = "BHD IQD JOD KWD LYD OMR TND"
_FOUR: Final = "CLF UYW"
_TWO: Final = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR "
    "FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR "
    "KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV "
    "MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR "
    "SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH "
    "USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)


def _build() -> Mapping[str, int]:
    table: dict[str, int] = {}
    for exponent, codes in ((0, _ZERO), (2, _TWO), (3, _THREE), (4, _FOUR)):
        for code in codes.split():
            if code in table:  # pragma: no cover - guards the data above
                raise AssertionError(f"duplicate currency {code}")
            table[code] = exponent
    return MappingProxyType(dict(sorted(table.items())))


#: ISO 4217 alphabetic code -> number of decimal places of its minor unit.
ISO_4217_EXPONENTS: Final[Mapping[str, int]] = _build()
