"""unit-convert: convert a quantity between units of length, mass, volume, area, speed,
time, data size, pressure, energy and temperature.

Entry style: the simplest one — ``execute(input_data)``, synchronous, one argument, a
plain JSON object back. The manifest is in the shape found in Py Copilot's repository
(``skill_id``, ``dependencies`` as a list, ``entry_point`` as the dotted ``main.execute``).

Factors are exact where the unit is defined exactly (the inch is 0.0254 m, the pound
0.45359237 kg, the US gallon 231 in³) and computed with ``fractions.Fraction``, so
``1 mi -> ft`` is exactly 5280.
"""

from __future__ import annotations

import difflib
from fractions import Fraction
from typing import Any

F = Fraction

# category -> unit -> (factor to the base unit, aliases)
_TABLE: dict[str, dict[str, tuple[Fraction, tuple[str, ...]]]] = {
    "length": {
        "m": (F(1), ("meter", "meters", "metre", "metres")),
        "km": (F(1000), ("kilometer", "kilometers", "kilometre", "kilometres")),
        "cm": (F(1, 100), ("centimeter", "centimeters", "centimetre", "centimetres")),
        "mm": (F(1, 1000), ("millimeter", "millimeters", "millimetre", "millimetres")),
        "um": (F(1, 10**6), ("µm", "micrometer", "micrometers", "micron", "microns")),
        "nm": (F(1, 10**9), ("nanometer", "nanometers")),
        "in": (F(254, 10000), ("inch", "inches", '"')),
        "ft": (F(3048, 10000), ("foot", "feet", "'")),
        "yd": (F(9144, 10000), ("yard", "yards")),
        "mi": (F(1609344, 1000), ("mile", "miles")),
        "nmi": (F(1852), ("nautical mile", "nautical miles")),
    },
    "mass": {
        "kg": (F(1), ("kilogram", "kilograms", "kilo", "kilos")),
        "g": (F(1, 1000), ("gram", "grams")),
        "mg": (F(1, 10**6), ("milligram", "milligrams")),
        "t": (F(1000), ("tonne", "tonnes", "metric ton", "metric tons")),
        "lb": (F(45359237, 10**8), ("lbs", "pound", "pounds")),
        "oz": (F(45359237, 16 * 10**8), ("ounce", "ounces")),
        "st": (F(14 * 45359237, 10**8), ("stone", "stones")),
    },
    "volume": {
        "l": (F(1), ("liter", "liters", "litre", "litres")),
        "ml": (F(1, 1000), ("milliliter", "milliliters", "millilitre", "millilitres")),
        "m3": (F(1000), ("m³", "cubic meter", "cubic meters")),
        "cm3": (F(1, 1000), ("cm³", "cc")),
        "gal": (F(231 * 254**3, 10**9), ("gallon", "gallons", "us gallon")),
        "qt": (F(231 * 254**3, 4 * 10**9), ("quart", "quarts")),
        "pt": (F(231 * 254**3, 8 * 10**9), ("pint", "pints")),
        "cup": (F(231 * 254**3, 16 * 10**9), ("cups",)),
        "floz": (F(231 * 254**3, 128 * 10**9), ("fl oz", "fluid ounce", "fluid ounces")),
        "imp_gal": (F(454609, 10**5), ("imperial gallon", "imperial gallons")),
    },
    "area": {
        "m2": (F(1), ("m²", "square meter", "square meters")),
        "km2": (F(10**6), ("km²", "square kilometer", "square kilometers")),
        "cm2": (F(1, 10**4), ("cm²",)),
        "ha": (F(10**4), ("hectare", "hectares")),
        "acre": (F(4046856422, 10**6), ("acres", "ac")),
        "ft2": (F(3048**2, 10**8), ("ft²", "sq ft", "square foot", "square feet")),
        "in2": (F(254**2, 10**8), ("in²", "sq in", "square inch", "square inches")),
        "mi2": (F(1609344**2, 10**6), ("mi²", "sq mi", "square mile", "square miles")),
    },
    "speed": {
        "m/s": (F(1), ("mps", "meters per second")),
        "km/h": (F(1000, 3600), ("kph", "kmh", "kilometers per hour")),
        "mph": (F(1609344, 3600 * 1000), ("mi/h", "miles per hour")),
        "kn": (F(1852, 3600), ("kt", "knot", "knots")),
        "ft/s": (F(3048, 10000), ("fps",)),
    },
    "time": {
        "s": (F(1), ("sec", "second", "seconds")),
        "ms": (F(1, 1000), ("millisecond", "milliseconds")),
        "us": (F(1, 10**6), ("µs", "microsecond", "microseconds")),
        "min": (F(60), ("minute", "minutes")),
        "h": (F(3600), ("hr", "hour", "hours")),
        "d": (F(86400), ("day", "days")),
        "wk": (F(7 * 86400), ("week", "weeks")),
        "yr": (F(31557600), ("year", "years", "julian year")),
    },
    "data": {
        "B": (F(1), ("byte", "bytes")),
        "bit": (F(1, 8), ("bits", "b")),
        "kB": (F(10**3), ("kilobyte", "kilobytes")),
        "MB": (F(10**6), ("megabyte", "megabytes")),
        "GB": (F(10**9), ("gigabyte", "gigabytes")),
        "TB": (F(10**12), ("terabyte", "terabytes")),
        "KiB": (F(2**10), ("kibibyte", "kibibytes")),
        "MiB": (F(2**20), ("mebibyte", "mebibytes")),
        "GiB": (F(2**30), ("gibibyte", "gibibytes")),
        "TiB": (F(2**40), ("tebibyte", "tebibytes")),
    },
    "pressure": {
        "Pa": (F(1), ("pascal", "pascals")),
        "kPa": (F(1000), ("kilopascal", "kilopascals")),
        "bar": (F(10**5), ("bars",)),
        "atm": (F(101325), ("atmosphere", "atmospheres")),
        "psi": (F(45359237 * 980665, 10**13) / F(254**2, 10**8), ("lbf/in2",)),
        "mmHg": (F(101325, 760), ("torr",)),
    },
    "energy": {
        "J": (F(1), ("joule", "joules")),
        "kJ": (F(1000), ("kilojoule", "kilojoules")),
        "cal": (F(4184, 1000), ("calorie", "calories")),
        "kcal": (F(4184), ("kilocalorie", "kilocalories", "Cal")),
        "Wh": (F(3600), ("watt hour", "watt hours")),
        "kWh": (F(3600000), ("kilowatt hour", "kilowatt hours")),
    },
}

# Temperature is affine, not a factor: (scale to kelvin, offset in kelvin).
_TEMPERATURE: dict[str, tuple[Fraction, Fraction, tuple[str, ...]]] = {
    "K": (F(1), F(0), ("kelvin",)),
    "C": (F(1), F(27315, 100), ("°C", "celsius", "degC")),
    "F": (F(5, 9), F(27315, 100) - F(5, 9) * 32, ("°F", "fahrenheit", "degF")),
}


def _build_index() -> dict[str, tuple[str, str]]:
    names: list[tuple[str, str, str]] = []
    for category, units in _TABLE.items():
        for unit, (_, aliases) in units.items():
            names += [(name, category, unit) for name in (unit, *aliases)]
    for unit, (_, _, aliases) in _TEMPERATURE.items():
        names += [(name, "temperature", unit) for name in (unit, *aliases)]
    index: dict[str, tuple[str, str]] = {}
    for name, category, unit in names:  # exact spellings win: "b" is a bit, "B" a byte
        index.setdefault(name, (category, unit))
    for name, category, unit in names:
        index.setdefault(name.lower(), (category, unit))
    return index


_INDEX = _build_index()


def _lookup(name: str) -> tuple[str, str]:
    key = name.strip()
    found = _INDEX.get(key) or _INDEX.get(key.lower())
    if found is None:
        close = difflib.get_close_matches(key, list(_INDEX), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown unit {name!r}{hint} (the skill's README lists the units)")
    return found


def convert(value: float, src: str, dst: str) -> tuple[Fraction, str]:
    src_cat, src_unit = _lookup(src)
    dst_cat, dst_unit = _lookup(dst)
    if src_cat != dst_cat:
        raise ValueError(f"cannot convert {src_cat} ({src!r}) to {dst_cat} ({dst!r})")
    quantity = Fraction(str(value))
    if src_cat == "temperature":
        s_scale, s_off, _ = _TEMPERATURE[src_unit]
        d_scale, d_off, _ = _TEMPERATURE[dst_unit]
        kelvin = quantity * s_scale + s_off
        if kelvin < 0:
            raise ValueError(f"{value} {src_unit} is below absolute zero")
        return (kelvin - d_off) / d_scale, src_cat
    factor_src = _TABLE[src_cat][src_unit][0]
    factor_dst = _TABLE[dst_cat][dst_unit][0]
    return quantity * factor_src / factor_dst, src_cat


def execute(input_data: dict[str, Any]) -> dict[str, Any]:
    value = input_data["value"]
    src = str(input_data["from"])
    dst = str(input_data["to"])
    precision = int(input_data.get("precision", 6))
    exact, category = convert(value, src, dst)
    result = round(float(exact), precision)
    if result.is_integer() and abs(result) < 2**53:
        shown: float | int = int(result)
    else:
        shown = result
    src_unit = _lookup(src)[1]
    dst_unit = _lookup(dst)[1]
    return {
        "value": value,
        "from": src_unit,
        "to": dst_unit,
        "result": shown,
        "category": category,
        "exact": exact.denominator == 1 or float(exact) == result,
        "text": f"{value} {src_unit} = {shown} {dst_unit}",
    }
