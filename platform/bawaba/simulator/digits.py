"""Vectorised check digits: Luhn (Emirates ID, card numbers) and IBAN mod-97.

Each runs a short loop over digit positions, vectorised over all values at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def luhn_check_digit(payload: IntArray, width: int) -> IntArray:
    """The Luhn check digit to append to each ``width``-digit payload."""
    total = np.zeros(len(payload), dtype=np.int64)
    rest = payload.astype(np.int64, copy=True)
    for position in range(width):  # from the right of the payload
        digit = rest % 10
        rest //= 10
        if position % 2 == 0:  # next to the check digit: doubled
            digit = digit * 2
            digit = np.where(digit > 9, digit - 9, digit)
        total += digit
    return (10 - total % 10) % 10


def with_luhn(payload: IntArray, width: int) -> IntArray:
    """The payload with its Luhn check digit appended (width + 1 digits)."""
    return payload * 10 + luhn_check_digit(payload, width)


def iban_check_digits(bank: IntArray, account: IntArray) -> IntArray:
    """ISO 13616 check digits of UAE IBANs ``AE kk BBB AAAAAAAAAAAAAAAA``.

    mod-97 over the BBAN followed by the country code as digits (A=10, E=14) and ``00``.
    """
    remainder = bank.astype(np.int64) % 97
    # the 16-digit account in two 8-digit halves keeps every product inside int64
    for half in (account // 10**8, account % 10**8):
        remainder = (remainder * 10**8 + half) % 97
    return 98 - (remainder * 10**6 + 101400) % 97
