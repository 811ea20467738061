"""Patient age as recorded in imaging metadata: DICOM Age Strings, DICOM dates, table columns.

Format knowledge only (no task logic): each parser turns a recorded value into an `AgeValue`, the
interval of ages in years that the value can mean. "045Y" means at least 45 and under 46 years,
"018M" 18 to 19 months, a pair of dates one exact day. Recipes decide what to do with it.

Error messages describe what is wrong with a value without repeating it: ages and dates are
identifying metadata and must not reach an output folder, not even through a skip reason.

- DICOM Age String (VR AS, PS3.5 table 6.2-1): three digits and a unit, D (days), W (weeks),
  M (months) or Y (years), e.g. "045Y". Padding spaces are ignored; fewer than three digits
  ("45Y", seen in exports) are accepted since they are unambiguous; anything else is malformed.
- DICOM Date (VR DA): YYYYMMDD. Age at the study is StudyDate - PatientBirthDate in days / 365.2425.
- A metadata-table column: a number in years ("58", "58.5") or months, or an Age String.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ..errors import MedblinkError

DAYS_PER_YEAR = 365.2425
_UNIT_YEARS = {"D": 1.0 / DAYS_PER_YEAR, "W": 7.0 / DAYS_PER_YEAR, "M": 1.0 / 12.0, "Y": 1.0}
_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}
_AGE_STRING = re.compile(r"(\d{1,3})([DWMY])")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_AGE_STRING_LIKE = re.compile(r"\d{1,3}\s*[A-Za-z]")  # digits and one letter: an Age String attempt
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class AgeFormatError(MedblinkError, ValueError):
    """A recorded age or date is malformed. The message names the problem, never the value."""


@dataclass(frozen=True)
class AgeValue:
    """The ages (in years) a recorded value stands for: `low` <= age < `high` (equal for exact ages)."""

    low: float
    high: float
    unit: str  # the unit the value was recorded in: days, weeks, months, years

    @property
    def years(self) -> float:
        """A single best value: the lower end (completed units, as ages are usually recorded)."""
        return self.low


def _describe(text: str) -> str:
    """What a malformed value looks like, without its digits: its length and character classes."""
    kinds = []
    if any(c.isdigit() for c in text):
        kinds.append("digits")
    if any(c.isalpha() for c in text):
        kinds.append("letters")
    if any(not c.isalnum() for c in text):
        kinds.append("other characters")
    return f"{len(text)} characters ({', '.join(kinds) or 'nothing'})"


def parse_age_string(value: object, field: str = "PatientAge") -> AgeValue:
    """Parse a DICOM Age String ("045Y", "018M", "006W", "010D") into the interval it means.

    Raises AgeFormatError naming `field` and what is wrong (not the value).
    """
    text = str(value).strip()
    if not text:
        raise AgeFormatError(f"{field} is empty")
    match = _AGE_STRING.fullmatch(text)
    if match is None:
        if text[-1:].isalpha() and text[-1] not in _UNIT_YEARS:
            problem = "its unit letter is not one of D, W, M, Y (upper case: days, weeks, months, years)"
        elif text.isdigit():
            problem = "it has no unit letter (D, W, M or Y)"
        else:
            problem = f"it is not three digits and a unit letter (nnnD/W/M/Y); it has {_describe(text)}"
        raise AgeFormatError(f"{field} is not a DICOM Age String: {problem}")
    number, unit = int(match.group(1)), match.group(2)
    scale = _UNIT_YEARS[unit]
    return AgeValue(number * scale, (number + 1) * scale, _UNIT_NAMES[unit])


def parse_dicom_date(value: object, field: str) -> date:
    """Parse a DICOM Date (YYYYMMDD). Raises AgeFormatError naming `field`, never the value."""
    text = str(value).strip()
    if not text:
        raise AgeFormatError(f"{field} is empty")
    match = _DATE.fullmatch(text)
    if match is None:
        raise AgeFormatError(f"{field} is not a DICOM date (YYYYMMDD): it has {_describe(text)}")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise AgeFormatError(f"{field} is not a valid calendar date ({exc})") from None


def age_from_dates(birth: object, study: object) -> AgeValue:
    """Age at the study, from PatientBirthDate and StudyDate (DICOM DA), exact to the day.

    A study before the birth gives a negative age: plausibility is the caller's decision.
    """
    born = parse_dicom_date(birth, "PatientBirthDate")
    seen = parse_dicom_date(study, "StudyDate")
    years = (seen - born).days / DAYS_PER_YEAR
    return AgeValue(years, years + 1.0 / DAYS_PER_YEAR, "days")


def parse_age_number(value: object, field: str, unit: str = "years") -> AgeValue:
    """A table value: an Age String, or a number in `unit` (years or months).

    An integer means completed units (58 -> [58, 59) years); a decimal is taken as exact. A
    negative number parses (plausibility is the caller's decision); text that is no number does not.
    """
    if unit not in ("years", "months"):
        raise ValueError(f"unit must be years or months, got {unit!r}")
    text = str(value).strip()
    if not text:
        raise AgeFormatError(f"{field} is empty")
    if _AGE_STRING_LIKE.fullmatch(text):
        return parse_age_string(text, field)
    if _NUMBER.fullmatch(text) is None:
        raise AgeFormatError(f"{field} is not a number of {unit}: it has {_describe(text)}")
    number = float(text)
    width = 1.0 if "." not in text else 0.0
    scale = 1.0 if unit == "years" else 1.0 / 12.0
    return AgeValue(number * scale, (number + width) * scale, unit)
