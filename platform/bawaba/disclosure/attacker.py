"""What a reader knows: the attacker model of secondary suppression and the audit, written down.

PRIVACY.md (S2, "What a reader knows") is the specification; this is its list as the code
applies it, one entry per kind of side information, in English and Arabic, so that the
catalog documentation, the public disclosure report of every version and the audit all
name the same things. Each entry says where the audit models it.

:data:`SIDE_INFORMATION` is what the audit models, and what the public disclosure report of
a version claims; :data:`NOT_YET_MODELLED` is any part of PRIVACY.md's list the audit does
not model (none today), kept apart so that no report claims a protection it does not give.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NOT_YET_MODELLED", "SIDE_INFORMATION", "SideInformation"]


@dataclass(frozen=True)
class SideInformation:
    """One kind of fact a reader has, and how the audit models it."""

    id: str
    en: str
    ar: str
    modelled_by: str
    """The module (or rule) of the disclosure library that models it."""


SIDE_INFORMATION: tuple[SideInformation, ...] = (
    SideInformation(
        "published-values",
        "Every value published in any version of any dataset, open and premium together: "
        "a subscriber has both tiers and keeps every version.",
        "كل قيمة نُشرت في أي إصدار من أي مجموعة بيانات، المفتوحة والمتميزة معاً: فالمشترك "
        "يملك الفئتين ويحتفظ بكل إصدار.",
        "audit: every table of the release is audited jointly; revisions keep earlier values; "
        "a table withheld now is audited as its public version published it",
    ),
    SideInformation(
        "table-sums",
        "Two tables of one quantity add up to each other on their common coordinates.",
        "يتساوى مجموع جدولين للكمية نفسها على الإحداثيات المشتركة بينهما.",
        "linked: relation groups",
    ),
    SideInformation(
        "derived-coordinates",
        "Coordinates derived from others: the month, quarter and year of a date, the quarter "
        "and year of a month, the department of a service.",
        "الإحداثيات المشتقة من غيرها: الشهر والربع والسنة من التاريخ، والربع والسنة من "
        "الشهر، والجهة من الخدمة.",
        "publish.coordinates: every cell carries the coordinates it implies",
    ),
    SideInformation(
        "integrality",
        "Counts are whole numbers.",
        "الأعداد أعداد صحيحة.",
        "intervals: a count's width is counted in whole numbers",
    ),
    SideInformation(
        "bounds",
        "Amounts are at least zero; a row that exists has at least one transaction of its "
        "population; a cell has no more payers than transactions.",
        "المبالغ لا تقل عن الصفر، والصف الموجود فيه معاملة واحدة على الأقل من مجتمعه، "
        "وعدد الدافعين في الخلية لا يزيد على عدد المعاملات.",
        "linked: lower bounds of every hidden value",
    ),
    SideInformation(
        "weekday-links",
        "The weekday of a date and the weekday and hour of an hour of the week, which link a "
        "daily table and an hourly profile.",
        "يوم الأسبوع من التاريخ، ويوم الأسبوع والساعة من ساعة الأسبوع، وبهما يرتبط الجدول "
        "اليومي بالتوزيع حسب ساعات الأسبوع.",
        "publish.coordinates: a date and an hour of the week carry their weekday",
    ),
    SideInformation(
        "amount-bands",
        "A cell of an amount band holds between the band's lower limit and its upper limit "
        "times its transactions.",
        "تقع قيمة خلية فئة المبلغ بين الحد الأدنى للفئة وحدها الأعلى مضروبين في عدد معاملاتها.",
        "audit: per-transaction limits couple a band cell's count and amount",
    ),
    SideInformation(
        "fixed-fees",
        "A service with a fixed fee has amount = fee × transactions in every cell of its "
        "own; the fee is public.",
        "للخدمة ذات الرسم الثابت مبلغٌ يساوي الرسم مضروباً في عدد المعاملات في كل خلية "
        "خاصة بها، والرسم معلن.",
        "audit: a fixed fee is a service cell's lower and upper amount per transaction",
    ),
    SideInformation(
        "joint-counts-and-amounts",
        "Counts and amounts are bounded together wherever a fact couples them.",
        "تُحصر الأعداد والمبالغ معاً حيثما ربطت بينها معلومة.",
        "audit: one linear program per population, counts and amounts",
    ),
    SideInformation(
        "derived-measures",
        "Every published derived measure (growth, rates, shares, the maturity index) is an "
        "equation between the quantities behind it, known to its rounding; the audit "
        "assumes it known exactly.",
        "كل مقياس مشتق منشور (النمو والمعدلات والحصص ومؤشر النضج) معادلة بين الكميات التي "
        "يُحسب منها، معروفة في حدود تقريبها، ويفترض التدقيق أنها معروفة تماماً.",
        "builders: the counts behind service-maturity's rates are audited as published; the "
        "other rates and growths are published only beside the cells they come from",
    ),
)


NOT_YET_MODELLED: tuple[SideInformation, ...] = ()
