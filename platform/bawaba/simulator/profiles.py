"""Each department's behaviour: its export format and the calibration of its traffic.

Published figures (DESIGN.md "Domain facts") fix the gateway totals per year, DM's eDirham
share and the adoption levels; the rest is a plausible calibration of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bawaba.errors import ConfigError

# Successful electronic payments through the ePay gateway: (transactions, AED).
GATEWAY_TARGETS: Mapping[int, tuple[int, float]] = MappingProxyType(
    {2012: (3_318_572, 4.4e9), 2013: (4_547_829, 5.6e9)}
)

DIRTY_KINDS: tuple[str, ...] = (
    "missing_field",
    "bad_timestamp",
    "negative_amount",
    "unknown_service",
    "duplicate",
)
DIRTY_RATE = 0.005
"""Dirty rows of a department that delivers them, as a share of its clean rows."""

DM_EDIRHAM_SHARE = 0.65
"""Dubai Municipality's electronic payments by eDirham (either generation)."""

# Share of eDirham payments made with the G2 card, per year.
EDIRHAM_G2_SHARE: Mapping[int, float] = MappingProxyType({2012: 0.12, 2013: 0.42})


@dataclass(frozen=True)
class Profile:
    code: str
    dialect: str
    e_share: float
    """Relative weight of the department in the gateway's transaction count."""
    adoption: tuple[float, float]
    """Electronic share of successful payments in 2012 and 2013."""
    payer_mix: tuple[float, float, float]
    """Individuals, companies, government entities among payments."""
    company_mult: float = 3.0
    """How much larger a company's variable payment is than an individual's."""
    value_boost: float = 1.0
    """Mean size of the department's variable payments relative to the typical amounts."""
    company_sigma: float = 0.9
    """Spread (log-normal sigma) of company payments: very large ones at DLD, DCUS, DEWA."""
    government_mult: float = 4.0
    failed_rate: float = 0.035
    refund_rate: float = 0.005
    rating_mean: float = 4.1
    arabic_names: float = 0.3
    """Probability that the system holds the payer's name in Arabic."""
    direct_debit: float = 1.0
    """Weight of direct debit relative to the default."""
    edirham: float = 1.0
    """Weight of eDirham relative to the default (government fees)."""
    growth: float = 0.0
    """Change of the count share from 2012 to 2013 (relative)."""
    category_boost: Mapping[str, float] = field(default_factory=dict)
    """Popularity multiplier of the department's services by category."""
    channel_boost: Mapping[str, float] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    renames: Mapping[str, str] = field(default_factory=dict)
    dirty: bool = False
    edirham_share: float | None = None
    """Exact share of electronic payments by eDirham (Dubai Municipality's published 65 %)."""
    billing_cycle: bool = False
    """Monthly bills: payments peak in the days after the bills go out."""

    def adoption_in(self, year: int) -> float:
        first, second = self.adoption
        return min(0.99, max(0.01, first + (second - first) * (year - 2012)))


_CSV, _JSONL, _HTTP, _PARQUET = "oracle_csv_ar", "sap_jsonl", "rest_json", "warehouse_parquet"
_IP = frozenset({"ip_address"})

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        p.code: p
        for p in (
            Profile(
                "DEWA",
                _PARQUET,
                25.0,
                (0.935, 0.95),
                (0.83, 0.155, 0.015),
                company_mult=7.0,
                company_sigma=1.3,
                direct_debit=3.0,
                edirham=0.6,
                rating_mean=4.3,
                billing_cycle=True,
                failed_rate=0.03,
                category_boost={"bills": 40.0},
                optional=frozenset({"account_number", "ip_address"}),
                renames={"account_number": "CONTRACT_ACCOUNT"},
            ),
            Profile(
                "RTA",
                _JSONL,
                22.0,
                (0.925, 0.945),
                (0.86, 0.13, 0.01),
                company_mult=2.5,
                rating_mean=4.2,
                growth=0.02,
                category_boost={"transport": 12.0, "fines": 6.0, "licences": 3.0},
                channel_boost={"sms": 2.5, "kiosk": 2.0, "mobile_app": 1.5},
                optional=frozenset({"plate_number", "ip_address"}),
            ),
            Profile(
                "DP",
                _CSV,
                16.0,
                (0.915, 0.935),
                (0.89, 0.10, 0.01),
                company_mult=2.5,
                rating_mean=4.4,
                arabic_names=0.45,
                dirty=True,
                category_boost={"fines": 30.0},
                channel_boost={"sms": 2.0, "ivr": 1.5},
                optional=frozenset({"plate_number"}),
            ),
            Profile(
                "DM",
                _CSV,
                8.0,
                (0.60, 0.625),
                (0.42, 0.53, 0.05),
                company_mult=3.0,
                rating_mean=4.0,
                arabic_names=0.5,
                dirty=True,
                failed_rate=0.05,
                growth=0.03,
                edirham_share=DM_EDIRHAM_SHARE,
            ),
            Profile(
                "GDRFA",
                _PARQUET,
                6.0,
                (0.59, 0.615),
                (0.55, 0.43, 0.02),
                company_mult=1.5,
                rating_mean=3.8,
                dirty=True,
                growth=0.04,
                category_boost={"residency": 10.0},
            ),
            Profile(
                "DED",
                _JSONL,
                2.8,
                (0.60, 0.62),
                (0.08, 0.90, 0.02),
                company_mult=2.0,
                rating_mean=4.0,
                direct_debit=1.5,
                category_boost={"licences": 6.0, "trade": 3.0},
                optional=_IP,
            ),
            Profile(
                "DHA",
                _PARQUET,
                2.5,
                (0.58, 0.60),
                (0.85, 0.13, 0.02),
                company_mult=2.0,
                rating_mean=3.9,
                category_boost={"health": 4.0},
            ),
            Profile(
                "DLD",
                _HTTP,
                2.3,
                (0.60, 0.62),
                (0.58, 0.40, 0.02),
                company_mult=8.0,
                company_sigma=1.4,
                value_boost=1.8,
                rating_mean=4.0,
                direct_debit=2.0,
                refund_rate=0.008,
                category_boost={"property": 6.0},
                optional=frozenset({"account_number", "ip_address"}),
                renames={"account_number": "title_deed_no"},
            ),
            Profile(
                "DC",
                _CSV,
                1.6,
                (0.57, 0.59),
                (0.62, 0.36, 0.02),
                rating_mean=3.7,
                arabic_names=0.55,
                category_boost={"legal": 5.0},
            ),
            Profile(
                "DTCM",
                _JSONL,
                1.4,
                (0.60, 0.62),
                (0.06, 0.92, 0.02),
                company_mult=2.0,
                rating_mean=4.1,
                category_boost={"tourism": 5.0},
            ),
            Profile(
                "DCCI",
                _HTTP,
                1.4,
                (0.61, 0.63),
                (0.02, 0.96, 0.02),
                company_mult=1.5,
                rating_mean=4.2,
                edirham=0.3,
                dirty=True,
                category_boost={"trade": 4.0},
                optional=_IP,
            ),
            Profile(
                "KHDA",
                _HTTP,
                1.0,
                (0.61, 0.63),
                (0.75, 0.24, 0.01),
                company_mult=2.0,
                rating_mean=4.0,
                category_boost={"education": 5.0},
                optional=_IP,
            ),
            Profile(
                "PP",
                _CSV,
                0.9,
                (0.56, 0.58),
                (0.85, 0.14, 0.01),
                rating_mean=3.6,
                arabic_names=0.55,
                dirty=True,
                category_boost={"legal": 5.0},
            ),
            Profile(
                "DCUS",
                _PARQUET,
                0.9,
                (0.62, 0.64),
                (0.04, 0.95, 0.01),
                company_mult=10.0,
                company_sigma=1.5,
                value_boost=3.0,
                direct_debit=2.5,
                rating_mean=4.2,
                category_boost={"trade": 6.0},
                optional=frozenset({"account_number"}),
                renames={"account_number": "DECLARANT_ACCOUNT"},
            ),
            Profile(
                "DWTC",
                _JSONL,
                0.7,
                (0.62, 0.64),
                (0.30, 0.68, 0.02),
                company_mult=3.0,
                rating_mean=4.3,
                edirham=0.3,
                category_boost={"tourism": 3.0},
            ),
            Profile(
                "DAFZA",
                _PARQUET,
                0.6,
                (0.62, 0.64),
                (0.05, 0.94, 0.01),
                company_mult=2.5,
                rating_mean=4.3,
                category_boost={"licences": 3.0},
            ),
            Profile(
                "CDA",
                _CSV,
                0.6,
                (0.57, 0.59),
                (0.85, 0.12, 0.03),
                rating_mean=4.0,
                arabic_names=0.6,
                category_boost={"social": 3.0},
            ),
            Profile(
                "MBRHE",
                _CSV,
                0.5,
                (0.58, 0.60),
                (0.97, 0.02, 0.01),
                rating_mean=4.2,
                arabic_names=0.8,
                category_boost={"housing": 4.0},
            ),
            Profile(
                "IACAD",
                _CSV,
                0.5,
                (0.57, 0.59),
                (0.80, 0.18, 0.02),
                rating_mean=4.4,
                arabic_names=0.7,
            ),
            Profile(
                "DCAA",
                _PARQUET,
                0.4,
                (0.61, 0.63),
                (0.25, 0.73, 0.02),
                company_mult=4.0,
                rating_mean=4.1,
            ),
            Profile(
                "DSO",
                _JSONL,
                0.4,
                (0.61, 0.63),
                (0.30, 0.69, 0.01),
                company_mult=2.0,
                rating_mean=4.2,
            ),
            Profile(
                "DCULT", _HTTP, 0.3, (0.60, 0.62), (0.60, 0.38, 0.02), rating_mean=4.1, optional=_IP
            ),
            Profile("DSPC", _JSONL, 0.3, (0.59, 0.61), (0.70, 0.28, 0.02), rating_mean=4.5),
            Profile(
                "DMCA",
                _HTTP,
                0.2,
                (0.61, 0.63),
                (0.15, 0.83, 0.02),
                company_mult=3.0,
                rating_mean=4.0,
                optional=_IP,
            ),
            Profile(
                "DSC", _HTTP, 0.2, (0.60, 0.62), (0.40, 0.55, 0.05), rating_mean=4.6, optional=_IP
            ),
        )
    }
)


def profile(code: str) -> Profile:
    try:
        return PROFILES[code]
    except KeyError:
        raise ConfigError(
            f"department {code!r} has no simulator profile",
            hint=f"profiles exist for {', '.join(sorted(PROFILES))}",
        ) from None


def gateway_target(year: int) -> tuple[int, float]:
    try:
        return GATEWAY_TARGETS[year]
    except KeyError:
        raise ConfigError(
            f"no published gateway figures for {year}",
            hint=f"simulate one of {', '.join(map(str, GATEWAY_TARGETS))}",
        ) from None
