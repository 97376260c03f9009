"""What a world is made of, and the catalogue of worlds the quality harness scores models on.

Every world has the same skeleton (the package docstring gives the generative model): people with
a latent intent, channels that reach them (some aimed at high intent), an effect shape per
channel, and controls that partly reveal intent. What varies between worlds is how strongly
exposure follows intent (the confounding), the shapes of the effects, the base rate, how much of
the population the data provider knows, and how well its tags reveal intent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

Shape = Literal["step", "saturating", "linear", "adstock", "zero"]
Confounding = Literal["none", "moderate", "strong"]
Role = Literal["", "zero", "aimed"]


@dataclass(frozen=True)
class ChannelSpec:
    """One channel: who it reaches, how often, and what an exposure does to the log-odds.

    The *stock* of a person's exposure is the number of their touches in the window, a click
    counting ``click_weight`` touches; for ``adstock`` each touch is further discounted by
    ``2^(-age / half_life_days)``, its age measured back from the decision time. The channel's
    effect on the person's log-odds of converting is then

    * ``step``: ``effect`` for any exposure;
    * ``saturating`` and ``adstock``: ``effect * (1 - exp(-stock / scale))``;
    * ``linear``: ``effect * stock`` (``effect`` per touch);
    * ``zero``: nothing.
    """

    name: str
    shape: Shape
    effect: float  # log-odds (see above)
    reach: float  # log-odds that a person of average intent is reached in the window
    rate: float  # mean touches per reached person (1 + Poisson(rate - 1))
    targeting: float = 0.0  # log-odds of reach per standard deviation of intent: the confounding
    frequency_targeting: float = 0.0  # log of the touch-rate multiplier per sd of intent
    scale: float = 2.0  # saturating / adstock: stock at which 1 - 1/e of the effect is reached
    half_life_days: float = 7.0  # adstock
    recent: bool = False  # touches fall between the lead and the decision (retargeting after a form)
    click_logit: float = -2.5  # log-odds that a touch is a click, + 0.5 per sd of intent
    click_weight: float = 1.0
    role: Role = ""  # "zero": the high-volume channel without effect; "aimed": aimed at intent


@dataclass(frozen=True)
class WorldSpec:
    """A world: its channels and the population they act on."""

    name: str
    description: str
    confounding: Confounding
    channels: tuple[ChannelSpec, ...]
    base_rate: float = 0.08  # mean conversion probability with no exposure at all
    intent_effect: float = 1.2  # log-odds of converting per sd of intent
    provider_coverage: float = 0.7  # share of people the data provider has tags for
    # Intent = visible part (what platforms target on and the provider sees) + hidden part.
    visible_intent: float = 0.6  # share of intent's variance that is visible
    proxy_noise: float = 0.3  # sd of the noise on the provider's view of the visible part (sd 1)
    hidden_targeting: float = 0.0  # weight of the hidden part in targeting (0: none)
    hard: bool = False  # confounding no control can remove: reported apart from the targets
    lookback_days: float = 30.0
    decision_delay_days: float = 7.0  # decision time = lead time + this

    @property
    def shapes(self) -> str:
        """The distinct effect shapes of the channels that have an effect, for tables."""
        return "/".join(sorted({c.shape for c in self.channels if c.shape != "zero"}))

    def role(self, role: Role) -> str:
        """The name of the channel with that role."""
        return next(c.name for c in self.channels if c.role == role)


# Targeting (reach log-odds per sd of intent, and the touch-rate multiplier of the aimed channel)
# at each level of confounding: channel name -> (targeting, frequency_targeting).
_TARGETING: dict[Confounding, dict[str, tuple[float, float]]] = {
    "none": {},
    "moderate": {
        "search": (0.3, 0.0),
        "social": (0.2, 0.0),
        "ott": (0.1, 0.0),
        "display_blast": (0.4, 0.0),
        "retarget": (0.8, 0.2),
        "email": (0.3, 0.0),
    },
    "strong": {
        "search": (0.6, 0.1),
        "social": (0.4, 0.0),
        "video": (0.2, 0.0),
        "ott": (0.2, 0.0),
        "display_blast": (0.8, 0.2),
        "retarget": (1.6, 0.4),
        "email": (0.6, 0.0),
    },
}


def _base_channels() -> tuple[ChannelSpec, ...]:
    return (
        ChannelSpec("search", "saturating", 0.5, reach=-0.3, rate=2.5, click_logit=-1.5, click_weight=2.0),
        ChannelSpec("social", "saturating", 0.35, reach=-0.5, rate=3.0, scale=3.0),
        ChannelSpec("video", "step", 0.3, reach=-1.0, rate=2.0),
        ChannelSpec("ott", "linear", 0.08, reach=-1.5, rate=2.0),
        ChannelSpec("display_blast", "zero", 0.0, reach=0.8, rate=6.0, role="zero"),
        ChannelSpec("retarget", "saturating", 0.15, reach=-1.2, rate=3.0, recent=True, role="aimed"),
    )


def _targeted(channels: tuple[ChannelSpec, ...], level: Confounding) -> tuple[ChannelSpec, ...]:
    t = _TARGETING[level]
    return tuple(
        replace(c, targeting=t.get(c.name, (0.0, 0.0))[0], frequency_targeting=t.get(c.name, (0.0, 0.0))[1])
        for c in channels
    )


def _reshape(channels: tuple[ChannelSpec, ...], **changes: dict[str, Any]) -> tuple[ChannelSpec, ...]:
    return tuple(replace(c, **changes[c.name]) if c.name in changes else c for c in channels)


def _linear(channels: tuple[ChannelSpec, ...]) -> tuple[ChannelSpec, ...]:
    return _reshape(
        channels,
        search={"shape": "linear", "effect": 0.12},
        social={"shape": "linear", "effect": 0.08},
        video={"shape": "linear", "effect": 0.12},
        retarget={"shape": "linear", "effect": 0.04},
    )


def _adstock(channels: tuple[ChannelSpec, ...]) -> tuple[ChannelSpec, ...]:
    return _reshape(
        channels,
        search={"shape": "adstock", "effect": 0.6, "half_life_days": 5.0, "scale": 1.0},
        social={"shape": "adstock", "effect": 0.45, "half_life_days": 10.0, "scale": 1.5},
        video={"shape": "adstock", "effect": 0.4, "half_life_days": 3.0, "scale": 0.5},
        retarget={"shape": "adstock", "effect": 0.2, "half_life_days": 2.0, "scale": 1.0},
    )


def _seven(channels: tuple[ChannelSpec, ...]) -> tuple[ChannelSpec, ...]:
    email = ChannelSpec("email", "step", 0.2, reach=-1.0, rate=1.5, click_logit=-1.0, click_weight=3.0)
    return (
        *_reshape(channels, social={"shape": "adstock", "half_life_days": 7.0, "scale": 1.5}),
        email,
    )


def _world(
    name: str, description: str, level: Confounding, channels: tuple[ChannelSpec, ...], **kw: Any
) -> WorldSpec:
    return WorldSpec(name, description, level, _targeted(channels, level), **kw)


def catalogue() -> dict[str, WorldSpec]:
    """Every world the harness knows, by name (docs/ATTRIBUTION.md describes them)."""
    base = _base_channels()
    worlds = [
        _world("none_saturating", "no targeting; saturating and step effects", "none", base),
        _world("moderate_saturating", "moderate targeting; saturating and step effects", "moderate", base),
        _world("strong_saturating", "strong targeting; saturating and step effects", "strong", base),
        _world("strong_linear", "strong targeting; effects linear in touches", "strong", _linear(base)),
        _world(
            "moderate_adstock",
            "moderate targeting; carried-over effects with decay",
            "moderate",
            _adstock(base),
        ),
        _world(
            "strong_adstock", "strong targeting; carried-over effects with decay", "strong", _adstock(base)
        ),
        _world(
            "strong_mixed7",
            "strong targeting; seven channels, every shape, clicks weigh more",
            "strong",
            _seven(base),
        ),
        _world(
            "strong_sparse_provider",
            "strong targeting; the data provider knows 35% of leads",
            "strong",
            base,
            provider_coverage=0.35,
        ),
        _world(
            "moderate_low_base", "moderate targeting; 2% base conversion", "moderate", base, base_rate=0.02
        ),
        _world(
            "strong_weak_controls",
            "strong targeting, partly on what no control sees; the provider's view is noisy (hard)",
            "strong",
            base,
            proxy_noise=1.0,
            hidden_targeting=0.7,
            hard=True,
        ),
    ]
    return {w.name: w for w in worlds}


WORLDS = catalogue()
