"""From an inspected file to a party's proposed config: the ID, the row key, each column's role.

:func:`propose` takes a :class:`~deploy.scaffold.infer.FileProfile` and the party's role
(``brand`` / ``media`` / ``data_provider``) and returns a :class:`Proposal`: the ID column and
its type, whether rows are one per person, the columns to share with their roles and types, the
row key, and per column a note saying why (written above it in the config). The roles are the
party config's (docs/CONFIG.md); names decide between them where types alone cannot (a 0/1
column called ``purchased`` is a label, one called ``has_kids`` a feature). Notes name columns
and kinds, never values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deploy.scaffold.infer import ColumnGuess, FileProfile
from protocols.errors import ConfigError

PARTY_ROLES = ("brand", "media", "data_provider")
_LABEL = re.compile(
    r"label|target|outcome|purchas|bought|buy|convert|visit|deal|won|sold|order|churn|respon|signed|^y$"
)
_CONVERSION = re.compile(r"visit|purchas|bought|buy|convert|order|deal|won|sold|paid|close")
_VALUE = re.compile(r"price|amount|revenue|value|spend|paid")
_CHANNEL = re.compile(r"channel|media|platform|placement|source|site|publisher")
_EVENT_TYPE = re.compile(r"event|action|interaction|kind|type")
_ID_NAME = re.compile(r"phone|mobile|tel|email|mail|device|idfa|oaid|imei")


@dataclass
class Proposal:
    """A party's config as proposed, before it is written; ``notes`` by column name."""

    id_column: str
    id_type: str
    ids_unique: bool
    columns: list[dict[str, Any]] = field(default_factory=list)
    row_key_column: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # column -> why it got its role and type
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why it is not listed
    warnings: list[str] = field(default_factory=list)  # what the operator should look at
    needs_paillier: bool = False


def _pick_id(profile: FileProfile, override: str | None) -> ColumnGuess:
    if override is not None:
        return profile.column(override)
    candidates = [c for c in profile.columns if c.id_type is not None]
    if not candidates:
        raise ConfigError(
            f"no column of {profile.path.name} looks like an ID (phone numbers, e-mail addresses or device "
            "IDs, in at least 80% of its rows); name it with --id-column NAME=COLUMN[:TYPE]"
        )
    # The most valid values first; a name that says what it is breaks ties.
    return max(candidates, key=lambda c: (c.id_share, bool(_ID_NAME.search(c.name.lower()))))


def propose(
    profile: FileProfile,
    role: str,
    id_column: str | None = None,
    id_type: str | None = None,
    labels: tuple[str, ...] = (),
) -> Proposal:
    """The proposal for a party of ``role`` over ``profile``; ``id_column``/``id_type`` and
    ``labels`` override the guesses (the label columns of a brand)."""
    if role not in PARTY_ROLES:
        raise ConfigError(f"party role '{role}' is not one of {', '.join(PARTY_ROLES)}")
    ident = _pick_id(profile, id_column)
    kind = id_type or ident.id_type
    if kind is None:
        raise ConfigError(
            f"column '{ident.name}' of {profile.path.name} does not look like phone numbers, e-mail addresses "
            "or device IDs; say which with --id-column NAME=COLUMN:phone|email|device_id"
        )
    unknown = [c for c in labels if c not in {g.name for g in profile.columns}]
    if unknown:
        raise ConfigError(
            f"{profile.path.name} has no column {', '.join(repr(u) for u in unknown)} (--label)"
        )
    p = Proposal(id_column=ident.name, id_type=kind, ids_unique=role != "media")
    p.notes[ident.name] = f"the ID: {ident.reason}"
    rest = [c for c in profile.columns if c.name != ident.name]
    if role == "brand":
        _brand(p, rest, labels)
    elif role == "media":
        _media(p, rest)
    else:
        for c in rest:
            _share(p, c, "feature", "a tag the brand's model and profiles may use")
    return p


def _share(p: Proposal, c: ColumnGuess, role: str, why: str, type_: str | None = None) -> None:
    t = type_ or c.config_type
    if t is None:
        p.left_out[c.name] = f"not listed: {c.reason}"
        return
    entry: dict[str, Any] = {"name": c.name, "role": role, "type": t, "share": True}
    p.columns.append(entry)
    p.notes[c.name] = f"{role} ({c.reason}): {why}"


def _brand(p: Proposal, cols: list[ColumnGuess], labels: tuple[str, ...]) -> None:
    keys = [c for c in cols if c.unique and c.config_type is None and c.id_type is None]
    if keys:
        # The first unique identifier names each row at this site: scores come back against it.
        p.row_key_column = keys[0].name
        p.notes[keys[0].name] = (
            f"row key ({keys[0].reason}): never shared; lead scores are written back against it"
        )
    else:
        p.warnings.append(
            "no column names each row (a lead or policy number); add one and set row_key_column to "
            "receive lead scores"
        )
    times = [c for c in cols if c.config_type == "timestamp"]
    lead_time = next((c for c in times if not _CONVERSION.search(c.name.lower())), None)
    label_cols = (
        [c for c in cols if c.name in labels]
        if labels
        else [c for c in cols if c.flag and _LABEL.search(c.name.lower())]
    )
    for c in cols:
        low = c.name.lower()
        if c.name == p.row_key_column:
            continue
        if c in label_cols:
            # Numeric, 0/1: the learner reads the label as a number (docs/LEAD_RATING.md).
            _share(p, c, "label", "an outcome to learn (0/1); never a model input", "numeric")
        elif c is lead_time:
            _share(p, c, "event_time", "the lead's own time; media touches count only before it")
        elif c.config_type == "timestamp":
            _share(p, c, "conversion_time", "when the outcome happened (attribution); never a model input")
        elif c.config_type == "numeric" and _VALUE.search(low):
            _share(p, c, "value", "what a conversion was worth; leaves only Paillier-encrypted")
            p.columns[-1]["encrypt"] = "paillier"
            p.needs_paillier = True
        else:
            _share(p, c, "feature", "a model input")
    if not label_cols:
        p.warnings.append(
            "no 0/1 column is named like an outcome (purchased, visited, converted...): set role: label "
            "on yours, or pass --label NAME=COLUMN"
        )


def _media(p: Proposal, cols: list[ColumnGuess]) -> None:
    times = [c for c in cols if c.config_type == "timestamp"]
    cats = [c for c in cols if c.config_type == "categorical"]
    channel = next((c for c in cats if _CHANNEL.search(c.name.lower())), None)
    event = next((c for c in cats if c is not channel and _EVENT_TYPE.search(c.name.lower())), None)
    for c in cols:
        if times and c is times[0]:
            _share(p, c, "event_time", "when the touch happened")
        elif c is channel:
            _share(p, c, "channel", "attribution credits channels")
        elif c is event:
            _share(p, c, "event_type", "impression, click, ...: counted per channel")
        elif c.config_type == "timestamp":
            p.left_out[c.name] = "not listed: a second date-time (only one is the touch's time)"
        else:
            _share(p, c, "feature", "a model input")
    if not times:
        p.warnings.append(
            "no ISO 8601 date-time column: a media party's touches need their time (event_time)"
        )
    if channel is None:
        p.warnings.append("no column is named like a channel: set role: channel on the column naming it")
