"""Where the secret for pseudonymising patient identifiers comes from.

A source identifier becomes ``patient_key`` = HMAC-SHA-256(secret, id) in
``sources``; this module only finds the secret, in this order:

1. ``NELMTRACK_PSEUDONYM_KEY`` (the secret itself);
2. a Prefect Secret block named by ``NELMTRACK_PSEUDONYM_KEY_BLOCK`` or by
   ``privacy.pseudonym_key_block`` in the config (loaded only when 1 is unset,
   so a run that has the variable never talks to Prefect for it);
3. none, when the config declares the identifiers already pseudonymous.

Otherwise a real run refuses to start. ``demo`` uses a built-in key that is
public on purpose: it is only for the synthetic demo cohort.

Prefect is imported here only to load a block, and lazily: ``nelmtrack serve``
checks the key before it starts or connects to a Prefect server.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc

from config import Config
from sources import Pseudonymiser

DEMO_PSEUDONYM_KEY = b"nelmtrack-demo-key: public, for the synthetic demo cohort only"
KEY_ENV = "NELMTRACK_PSEUDONYM_KEY"
KEY_BLOCK_ENV = "NELMTRACK_PSEUDONYM_KEY_BLOCK"


class ConfigurationError(Exception):
    """The run cannot start as configured; the message says what to set."""


def key_block_name(cfg: Config) -> str:
    """The Prefect Secret block holding the key, or '' when none is named."""
    return os.environ.get(KEY_BLOCK_ENV, "") or cfg.value("privacy.pseudonym_key_block")


def check_key_available(cfg: Config, demo: bool = False) -> None:
    """Fail fast, without Prefect, when no key source is set up at all."""
    if demo or os.environ.get(KEY_ENV) or key_block_name(cfg):
        return
    if cfg.value("privacy.identifiers_already_pseudonymous"):
        return
    raise ConfigurationError(
        f"set {KEY_ENV} to a secret (patient identifiers are replaced by a keyed hash), or "
        f"name a Prefect Secret block holding it in {KEY_BLOCK_ENV}, or declare "
        "`privacy.identifiers_already_pseudonymous = true` in the config file"
    )


def _secret_from_block(name: str) -> bytes:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except (ValueError, KeyError):
        raise ConfigurationError(
            f"Prefect Secret block '{name}' (named by {KEY_BLOCK_ENV} or "
            "privacy.pseudonym_key_block) was not found on the Prefect server in use"
        ) from None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"Prefect Secret block '{name}' must hold a non-empty string")
    return value.encode()


def pseudonymiser_for(cfg: Config, demo: bool) -> Pseudonymiser | None:
    """The keyed hash for patient identifiers, or None when they are already pseudonymous."""
    if demo:
        return Pseudonymiser(DEMO_PSEUDONYM_KEY)
    check_key_available(cfg)
    secret = os.environ.get(KEY_ENV, "")
    if secret:
        return Pseudonymiser(secret.encode())
    block = key_block_name(cfg)
    if block:
        return Pseudonymiser(_secret_from_block(block))
    return None


def needs_prefect(cfg: Config, demo: bool = False) -> bool:
    """Whether the key is to be loaded from a Prefect Secret block (a Prefect API is needed)."""
    return not demo and not os.environ.get(KEY_ENV) and bool(key_block_name(cfg))


def key_fingerprint(pseudonymiser: Pseudonymiser | None) -> str:
    """What the warehouse records of the key in use (meta.key_check): reveals no key."""
    return pseudonymiser.fingerprint() if pseudonymiser else "identifiers already pseudonymous"


def patient_keys(pseudonymiser: Pseudonymiser | None, identifiers: list[str]) -> list[str | None]:
    """The ``patient_key`` each source identifier gets when a file is read (``sources``): the
    keyed hash, or the trimmed identifier when identifiers are already pseudonymous; None
    for an empty one."""
    ids = pa.array(identifiers, pa.string())
    if pseudonymiser is not None:
        return pseudonymiser.keys(ids).to_pylist()
    trimmed = pc.utf8_trim_whitespace(ids)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed).to_pylist()
