"""Clinical thresholds, windows, vocabularies and unit factors, kept as data.

Every ``config/*.toml`` file beside this module is read and merged into one
tree of sections. A *parameter* is an inline table with a ``value``, a
``unit`` and a ``source`` (where the number comes from), so that nobody has to
guess why a cut-off is what it is::

    [response]
    pr_change_pct = { value = -30.0, unit = "%", source = "RECIST 1.1 (Eisenhauer 2009)" }

A numeric parameter also declares its allowed range, ``min`` and ``max``
(closed; for a list, every item), and a value outside it is refused, the
default as much as an override: a negative window or threshold is a mistake,
never a setting.

Anything else (vocabularies, alias tables) is taken as it stands. A user file
passed with ``--config`` may override any existing value, either with a bare
value or with ``{ value = …, unit = "…" }``; an unknown key is an error, never
ignored, because a misspelt threshold that silently does nothing is worse
than a stop. An override that names a unit other than the parameter's is
converted when ``[unit_factors]`` (config/units.toml) knows the factor, and
refused otherwise: a bilirubin cut-off given in µmol/L is not read as mg/dL.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).parent
OPERATIONAL_SECTIONS = frozenset({"run", "schedule", "engine"})
PARAMETER_KEYS = frozenset({"value", "unit", "source", "min", "max"})
UNIT_FACTORS = "unit_factors"  # the section of config/units.toml
# Mapping tables a config file may extend with new codes (a sponsor's own TRTESTCD,
# a local procedure code): any table below these sections. Their settings are not.
OPEN_MAPPING_SECTIONS = ("sdtm", "fhir")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says why."""


def _is_parameter(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= PARAMETER_KEYS


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _base_unit(unit: str) -> str:
    """The unit a parameter's unit text starts with: "days after the scope start" -> "day"."""
    words = unit.split(" (")[0].strip().lower().split()
    first = words[0] if words else ""
    return first[:-1] if len(first) > 2 and first.endswith("s") and "/" not in first else first


def _converted(
    value: Any, given_unit: str, current: dict[str, Any], factors: Any, dotted: str
) -> Any:
    """``value`` in the parameter's unit, or a ConfigError when the units cannot be matched."""
    want = str(current.get("unit", ""))
    given, base = _base_unit(given_unit), _base_unit(want)
    if given_unit.strip().lower() == want.strip().lower() or given == base:
        return value
    factor = (factors or {}).get(given, {}).get(base) if isinstance(factors, dict) else None
    if factor is None or not (_is_number(value) or isinstance(value, list)):
        raise ConfigError(
            f"setting '{dotted}' is in {want.split(' (')[0]}, not {given_unit}; give the value in "
            f"{want.split(' (')[0]} (no conversion from {given_unit} is known)"
        )
    if isinstance(value, list):
        return [x * factor for x in value]
    scaled = value * factor
    return int(scaled) if isinstance(value, int) and float(scaled).is_integer() else scaled


def _check_ranges(node: Any, where: str = "") -> None:
    """Refuse any parameter whose value lies outside its declared [min, max]."""
    if _is_parameter(node):
        low, high = node.get("min"), node.get("max")
        value = node["value"]
        items = value if isinstance(value, list) else [value]
        for x in items:
            if _is_number(x) and ((low is not None and x < low) or (high is not None and x > high)):
                unit = str(node.get("unit", "")).split(" (")[0]
                raise ConfigError(
                    f"setting '{where}' = {value!r} is outside its allowed range "
                    f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
                    f" ({unit})"
                )
    elif isinstance(node, dict):
        for key, child in node.items():
            _check_ranges(child, f"{where}.{key}".lstrip("."))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc


def _merge_defaults(into: dict[str, Any], new: Mapping[str, Any], where: str) -> None:
    for key, val in new.items():
        if (
            key in into
            and isinstance(into[key], dict)
            and isinstance(val, dict)
            and not (_is_parameter(val))
        ):
            _merge_defaults(into[key], val, f"{where}.{key}")
        elif key in into:
            raise ConfigError(f"{where}.{key} is defined twice in config/")
        else:
            into[key] = val


def _apply_override(
    into: dict[str, Any], new: Mapping[str, Any], where: str, factors: Any = None
) -> None:
    for key, val in new.items():
        dotted = f"{where}.{key}".lstrip(".")
        if key not in into:
            if dotted.count(".") >= 2 and dotted.split(".")[0] in OPEN_MAPPING_SECTIONS:
                into[key] = val  # a new code in a mapping table (config/sdtm.toml)
                continue
            raise ConfigError(f"unknown setting '{dotted}' in the config file")
        current = into[key]
        if _is_parameter(current):
            value = val["value"] if isinstance(val, dict) and "value" in val else val
            if isinstance(value, dict):
                raise ConfigError(f"setting '{dotted}' needs a value, not a table")
            if isinstance(val, dict) and "unit" in val:
                value = _converted(value, str(val["unit"]), current, factors, dotted)
            expected = type(current["value"])
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or isinstance(value, bool) != isinstance(
                current["value"], bool
            ):
                raise ConfigError(f"setting '{dotted}' must be {expected.__name__}, got {value!r}")
            into[key] = {**current, "value": value}
        elif isinstance(current, dict):
            if not isinstance(val, dict):
                raise ConfigError(f"setting '{dotted}' is a section, not a value")
            _apply_override(current, val, dotted, factors)
        else:
            into[key] = val


def _values(node: Any) -> Any:
    if _is_parameter(node):
        return node["value"]
    if isinstance(node, dict):
        return {k: _values(v) for k, v in node.items()}
    return node


@dataclass(frozen=True)
class Config:
    """The effective configuration of one run.

    ``tree`` keeps units and sources for documentation; ``section(name)``
    gives the plain values a transform needs.
    """

    tree: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        """Plain values of one top-level section (``response``, ``labs`` …)."""
        if name not in self.tree:
            raise ConfigError(f"config has no section '{name}'")
        return _values(self.tree[name])

    def value(self, dotted: str) -> Any:
        node: Any = self.tree
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"config has no setting '{dotted}'")
            node = node[part]
        return _values(node)

    def unit(self, dotted: str) -> str:
        """The unit of one parameter, as config/*.toml states it (``"mg/dL"``).

        Text that quotes a cut-off (a report label) takes its unit from here, so
        the number and its unit come from the same place.
        """
        node: Any = self.tree
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"config has no setting '{dotted}'")
            node = node[part]
        if not _is_parameter(node) or "unit" not in node:
            raise ConfigError(f"setting '{dotted}' has no unit")
        return str(node["unit"])

    @property
    def hash(self) -> str:
        """Fingerprint of the values that shape results, recorded with every run.

        Operational sections (how long to wait for a lock, when to run) are
        left out: changing them must not force a full recompute.
        """
        shaping = {k: v for k, v in self.tree.items() if k not in OPERATIONAL_SECTIONS}
        blob = json.dumps(_values(shaping), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_config(user_file: str | Path | None = None) -> Config:
    """Defaults from ``config/*.toml``, then the user's overrides, if any."""
    tree: dict[str, Any] = {}
    for path in sorted(CONFIG_DIR.glob("*.toml")):
        _merge_defaults(tree, _read_toml(path), path.stem)
    if user_file is not None:
        _apply_override(tree, _read_toml(Path(user_file)), "", _values(tree.get(UNIT_FACTORS)))
    _check_ranges(tree)
    return Config(tree)
