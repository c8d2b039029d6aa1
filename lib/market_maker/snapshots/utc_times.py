"""Open times written as ``YYYY-MM-DDTHH:MM:SSZ``, read as Unix seconds a column at a time.

Every character is checked with numpy (:func:`parse_times`); the days and times of day
already read are remembered, so that a time made of a known day and a known time of day is
their sum, with no parse at all (:func:`utc_seconds`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DIGIT_AT = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_SEPARATOR_AT = np.array([4, 7, 10, 13, 16, 19])
_SEPARATORS = np.frombuffer(b"--T::Z", dtype=np.uint8)
# Digits to year, month, day, hour, minute, second in one product.
_PLACES = np.zeros((14, 6), dtype=np.int64)
for _column, (_first, _weights) in enumerate(
    [
        (0, (1000, 100, 10, 1)),
        (4, (10, 1)),
        (6, (10, 1)),
        (8, (10, 1)),
        (10, (10, 1)),
        (12, (10, 1)),
    ]
):
    _PLACES[_first : _first + len(_weights), _column] = _weights
_LOWEST = np.array([1970, 1, 1, 0, 0, 0])
_HIGHEST = np.array([9999, 12, 31, 23, 59, 59])
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


# Days ("YYYY-MM-DD") and times of day ("THH:MM:SSZ") of times already parsed, as seconds:
# a string made of a known day and a known time of day is a valid time, their sum.
_DAYS: dict[str, int] = {}
_CLOCKS: dict[str, int] = {}
_MAX_DAYS = 100_000  # times of day are at most 86,400


def utc_seconds(values: tuple[Any, ...]) -> np.ndarray | None:
    """Unix seconds of ``YYYY-MM-DDTHH:MM:SSZ`` times (from 1970 on), else None."""
    days, clocks = _DAYS, _CLOCKS
    try:
        return np.array([days[v[:10]] + clocks[v[10:]] for v in values], dtype=np.int64)
    except KeyError:
        pass  # a day or a time of day not seen yet: parse every character
    except TypeError:  # not all strings
        return None
    seconds = parse_times(values)
    if seconds is not None:
        if len(days) > _MAX_DAYS:
            days.clear()
        for value, second in zip(values, seconds.tolist(), strict=True):
            clock = second % 86400
            days[value[:10]] = second - clock
            clocks[value[10:]] = clock
    return seconds


def forget_times() -> None:
    """Forget the days and times of day seen (to read as a fresh process reads)."""
    _DAYS.clear()
    _CLOCKS.clear()


def parse_times(values: tuple[Any, ...]) -> np.ndarray | None:
    """As :func:`utc_seconds`, every character checked."""
    try:
        if set(map(len, values)) != {20}:
            return None
        text = "".join(values)
    except TypeError:  # not all strings
        return None
    if not text.isascii():
        return None
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(len(values), 20)
    if not (chars[:, _SEPARATOR_AT] == _SEPARATORS).all():
        return None
    digits = chars[:, _DIGIT_AT] - np.uint8(ord("0"))  # a non-digit wraps above 9
    if (digits > 9).any():
        return None
    parts = digits @ _PLACES
    if ((parts < _LOWEST) | (parts > _HIGHEST)).any():
        return None
    year, month, day, hour, minute, second = parts.T
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (day > _MONTH_DAYS[month] + (leap & (month == 2))).any():
        return None
    # Days since the epoch of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second
