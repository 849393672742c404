"""The portal's two languages: which one a request wants, its UI strings, and numbers.

Dataset titles, descriptions and field titles come from catalog.yaml and department names
from the reference data, both in English and Arabic; this module holds only the words of
the interface itself. A string is a pair (English, Arabic), so neither language can be
forgotten for a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from starlette.requests import Request

Lang = Literal["en", "ar"]
"""en: English, left to right; ar: Arabic, right to left."""
LANGS: tuple[Lang, ...] = ("en", "ar")
COOKIE = "bawaba_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


class Bilingual(Protocol):
    """Anything with an English and an Arabic text (catalog ``Text``, reference codes)."""

    @property
    def en(self) -> str: ...

    @property
    def ar(self) -> str: ...


UI: Mapping[str, tuple[str, str]] = {
    # Frame
    "site_name": ("Bawaba", "بوابة"),
    "site_tagline": (
        "Open statistics on government e-payments and e-services",
        "إحصاءات مفتوحة عن المدفوعات والخدمات الحكومية الإلكترونية",
    ),
    "skip_to_content": ("Skip to content", "انتقل إلى المحتوى"),
    "nav_label": ("Main", "القائمة الرئيسية"),
    "nav_home": ("Home", "الرئيسية"),
    "nav_datasets": ("Datasets", "مجموعات البيانات"),
    "nav_plans": ("Premium plans", "باقات الاشتراك"),
    "nav_api": ("API docs", "توثيق الواجهة البرمجية"),
    "switch_language": ("Language", "اللغة"),
    "footer_publisher": ("Data published by", "البيانات منشورة من"),
    "footer_privacy": (
        "No personal data leaves the pipelines: cells under the disclosure threshold are withheld.",
        "لا تخرج أي بيانات شخصية من مسارات المعالجة: تُحجب الخلايا التي تقل عن حد الإفصاح.",
    ),
    # Home
    "home_title": (
        "Government payment statistics, open to all",
        "إحصاءات المدفوعات الحكومية، مفتوحة للجميع",
    ),
    "home_intro": (
        "Bawaba publishes statistics on payments made through the ePay gateway and on the "
        "adoption of e-services by government departments: free to browse, download and use "
        "in your own apps.",
        "تنشر بوابة إحصاءات عن المدفوعات عبر بوابة الدفع الإلكتروني وعن تبني الجهات الحكومية "
        "للخدمات الإلكترونية: متاحة مجاناً للتصفح والتنزيل والاستخدام في تطبيقاتك.",
    ),
    "headline_title": ("In figures", "بالأرقام"),
    "headline_collections": (
        "Collected through ePay in {year}",
        "المبالغ المحصلة عبر بوابة الدفع في {year}",
    ),
    "headline_transactions": ("Payments in {year}", "عدد المدفوعات في {year}"),
    "headline_growth": ("Change in collections on {year}", "التغير في المبالغ المحصلة عن {year}"),
    "headline_datasets": ("Datasets published", "مجموعات البيانات المنشورة"),
    "headline_note": (
        "Sums of the published cells; withheld cells are not included. Source:",
        "مجاميع الخلايا المنشورة، ولا تشمل الخلايا المحجوبة. المصدر:",
    ),
    "aed": ("AED", "درهم"),
    "newest_title": ("Newest datasets", "أحدث مجموعات البيانات"),
    "topics_title": ("What it holds", "ماذا تضم"),
    "start_title": ("How to start", "كيف تبدأ"),
    "start_browse": (
        "Browse the datasets and read each one's data dictionary.",
        "تصفح مجموعات البيانات واقرأ قاموس البيانات لكل منها.",
    ),
    "start_download": (
        "Download a dataset as CSV, JSON or Parquet, whole or filtered.",
        "نزّل مجموعة البيانات بصيغة CSV أو JSON أو Parquet، كاملة أو مصفّاة.",
    ),
    "start_api": (
        "Call the open JSON API from your app, no key needed.",
        "استدعِ واجهة JSON البرمجية المفتوحة من تطبيقك دون الحاجة إلى مفتاح.",
    ),
    "start_premium": (
        "Need finer detail? See the premium plans.",
        "تحتاج إلى تفاصيل أدق؟ اطّلع على باقات الاشتراك.",
    ),
    "all_datasets": ("All datasets", "جميع مجموعات البيانات"),
    # Catalog
    "catalog_title": ("Datasets", "مجموعات البيانات"),
    "search_label": ("Search the datasets", "ابحث في مجموعات البيانات"),
    "search_placeholder": ("e.g. adoption, RTA, channel", "مثال: التبني، قناة، RTA"),
    "filters": ("Filters", "عوامل التصفية"),
    "facet_tier": ("Tier", "الفئة"),
    "facet_topic": ("Topic", "الموضوع"),
    "facet_department": ("Department", "الجهة"),
    "facet_format": ("Format", "الصيغة"),
    "any": ("Any", "الكل"),
    "browse_by": ("Browse by {facet}", "تصفح حسب {facet}"),
    "sort_label": ("Sort by", "الترتيب حسب"),
    "sort_title": ("Title", "العنوان"),
    "sort_updated": ("Last updated", "آخر تحديث"),
    "sort_rows": ("Rows", "عدد الصفوف"),
    "apply": ("Apply", "تطبيق"),
    "clear": ("Clear all", "مسح الكل"),
    "results_count": ("{count} datasets", "عدد مجموعات البيانات: {count}"),
    "no_results": (
        "No dataset matches. Try fewer words or clear the filters.",
        "لا توجد مجموعة بيانات مطابقة. جرّب كلمات أقل أو امسح عوامل التصفية.",
    ),
    "tier_open": ("Open", "مفتوحة"),
    "tier_premium": ("Premium", "مميزة"),
    "grain": ("Grain", "المستوى الزمني"),
    "last_update": ("Last update", "آخر تحديث"),
    "rows": ("Rows", "عدد الصفوف"),
    "not_published": ("Not published yet", "لم تُنشر بعد"),
    # Dataset page
    "breadcrumb": ("Breadcrumb", "مسار التنقل"),
    "about": ("About this dataset", "عن مجموعة البيانات"),
    "publisher": ("Publisher", "الناشر"),
    "licence": ("Licence", "الترخيص"),
    "update_frequency": ("Updated", "وتيرة التحديث"),
    "current_version": ("Current version", "الإصدار الحالي"),
    "privacy": ("Disclosure control", "ضبط الإفصاح"),
    "privacy_value": (
        "Every published cell counts at least {k} distinct payers.",
        "تضم كل خلية منشورة {k} دافعين مختلفين على الأقل.",
    ),
    # Dataset page: the version's disclosure report
    "disclosure_intro": (
        "How the cells of version {version} are protected. This report holds no value of the data.",
        "كيف تُحمى خلايا الإصدار {version}. لا يتضمن هذا التقرير أي قيمة من البيانات.",
    ),
    "disclosure_rules": ("Rules applied", "القواعد المطبقة"),
    "disclosure_k": (
        "At least {k} distinct payers in every published cell.",
        "{k} دافعين مختلفين على الأقل في كل خلية منشورة.",
    ),
    "disclosure_p": (
        "The p% rule with p = {p}, comparing the contributions of: {contributors}.",
        "قاعدة النسبة المئوية بقيمة p = {p}، وتقارن مساهمات: {contributors}.",
    ),
    "disclosure_restriction": ("The table covers only:", "يقتصر الجدول على:"),
    "disclosure_dimensions": (
        "At most {n} dimensions crossed, besides time.",
        "الحد الأقصى للأبعاد المتقاطعة، عدا الزمن: {n}.",
    ),
    "disclosure_side": (
        "What the audit assumes a reader knows",
        "ما يفترض التدقيق أن القارئ يعرفه",
    ),
    "disclosure_relations": (
        "Datasets audited together with this one",
        "مجموعات البيانات التي دُققت مع هذه المجموعة",
    ),
    "disclosure_equation": (
        "their sums are equal on:",
        "تتساوى مجاميعهما على:",
    ),
    "disclosure_within": (
        "one is a slice of the other; its sums are at most the other's on:",
        "إحداهما جزء من الأخرى، فلا تزيد مجاميعها على مجاميع الأخرى على:",
    ),
    "disclosure_no_relations": (
        "No other published table shares a quantity with it.",
        "لا يشترك معها في أي كمية جدول منشور آخر.",
    ),
    "disclosure_cells": ("Suppressed cells", "الخلايا المحجوبة"),
    "disclosure_primary": (
        "Sensitive on their own (primary)",
        "حساسة بذاتها (حجب أولي)",
    ),
    "disclosure_secondary": (
        "Suppressed to protect those (secondary)",
        "محجوبة لحماية الخلايا الحساسة (حجب ثانوي)",
    ),
    "disclosure_share": ("Share of rows suppressed", "نسبة الصفوف المحجوبة"),
    "disclosure_audit": ("Suppression audit", "تدقيق الحجب"),
    "disclosure_audit_passed": (
        "Passed in the release of {date}: {cells} suppressed cell-quantities audited.",
        "اجتاز التدقيق في إصدار {date}: دُقّق {cells} من كميات الخلايا المحجوبة.",
    ),
    "disclosure_uncontrolled": (
        "Reference data: it holds no payment or payer, so its cells need no disclosure control.",
        "بيانات مرجعية: لا تتضمن أي دفعة أو دافع، فلا تحتاج خلاياها إلى ضبط الإفصاح.",
    ),
    "disclosure_missing": (
        "Version {version} was published before disclosure reports were introduced.",
        "نُشر الإصدار {version} قبل اعتماد تقارير الإفصاح.",
    ),
    "disclosure_json": ("The report as JSON", "التقرير بصيغة JSON"),
    "chart_title": ("{measure} by {axis}", "{measure} حسب {axis}"),
    "chart_sum_note": (
        "Sum over the published cells; withheld cells are not included.",
        "مجموع الخلايا المنشورة؛ لا تشمل الخلايا المحجوبة.",
    ),
    "chart_avg_note": (
        "Average over the published cells.",
        "متوسط الخلايا المنشورة.",
    ),
    "chart_count_note": ("Number of rows.", "عدد الصفوف."),
    "chart_table": ("The chart's figures as a table", "أرقام الرسم البياني في جدول"),
    "chart_empty": ("No published values to chart.", "لا توجد قيم منشورة لرسمها."),
    "chart_summary": (
        "{measure} from {first_label} ({first}) to {last_label} ({last}); highest {max} in "
        "{max_label}, lowest {min} in {min_label}.",
        "{measure} من {first_label} ({first}) إلى {last_label} ({last})؛ الأعلى {max} في "
        "{max_label}، والأدنى {min} في {min_label}.",
    ),
    "count_of_rows": ("Rows", "عدد الصفوف"),
    "preview": ("Preview", "معاينة"),
    "preview_caption": (
        "Rows {first} to {last} of {total}, sorted by {order}",
        "الصفوف من {first} إلى {last} من أصل {total}، مرتبة حسب {order}",
    ),
    "preview_default_order": ("the dataset's key", "مفتاح مجموعة البيانات"),
    "sort_by_column": ("Sort by {column}", "رتّب حسب {column}"),
    "ascending": ("ascending", "تصاعدياً"),
    "descending": ("descending", "تنازلياً"),
    "pages": ("Pages", "الصفحات"),
    "previous_page": ("Previous page", "الصفحة السابقة"),
    "next_page": ("Next page", "الصفحة التالية"),
    "page_of": ("Page {page} of {pages}", "الصفحة {page} من {pages}"),
    "withheld": ("withheld", "محجوبة"),
    "yes": ("yes", "نعم"),
    "no": ("no", "لا"),
    "downloads": ("Downloads", "التنزيلات"),
    "download_whole": (
        "The whole current version, no row limit.",
        "الإصدار الحالي كاملاً دون حد لعدد الصفوف.",
    ),
    "download_csv": ("CSV", "CSV"),
    "download_json": ("JSON", "JSON"),
    "download_parquet": ("Parquet", "Parquet"),
    "download_datapackage": ("Data Package", "حزمة بيانات"),
    "snippets": ("Use it in code", "استخدمها في الشيفرة البرمجية"),
    "snippets_intro": (
        "Every URL is stable; the Parquet download answers range requests, so DuckDB, Polars "
        "and pandas read it straight from the URL.",
        "جميع الروابط ثابتة، ويدعم تنزيل Parquet طلبات النطاق، فتقرؤه DuckDB وPolars وpandas "
        "مباشرة من الرابط.",
    ),
    "copy": ("Copy", "نسخ"),
    "copied": ("Copied", "تم النسخ"),
    "dictionary": ("Data dictionary", "قاموس البيانات"),
    "field_name": ("Column", "العمود"),
    "field_title": ("Title", "العنوان"),
    "field_type": ("Type", "النوع"),
    "field_unit": ("Unit", "الوحدة"),
    "field_role": ("Role", "الدور"),
    "field_description": ("Description", "الوصف"),
    "versions": ("Version history", "سجل الإصدارات"),
    "version": ("Version", "الإصدار"),
    "published_at": ("Published", "تاريخ النشر"),
    "version_changes": ("What changed", "ما الذي تغيّر"),
    "changes_first": ("First version: {cells} cells", "الإصدار الأول: {cells} خلية"),
    "changes_counts": (
        "Since {previous}: {added} cells added, {revised} revised, {removed} removed",
        "منذ {previous}: أضيفت {added} خلية، وعُدّلت {revised}، وحُذفت {removed}",
    ),
    "changes_periods": ("New periods: {periods}", "فترات جديدة: {periods}"),
    "changes_unknown": ("Not recorded", "غير مسجّل"),
    "changes_rows": ("Changed rows (CSV)", "الصفوف المتغيّرة (CSV)"),
    "current": ("current", "الحالي"),
    "premium_title": ("A premium dataset", "مجموعة بيانات مميزة"),
    "premium_body": (
        "Its description, data dictionary and versions are public; its rows are for "
        "subscribers. Subscribe to a plan to get an API key, then use the paths below with "
        "the key in the X-API-Key header.",
        "وصفها وقاموس بياناتها وإصداراتها متاحة للجميع، أما صفوفها فللمشتركين. اشترك في "
        "إحدى الباقات لتحصل على مفتاح للواجهة البرمجية، ثم استخدم الروابط أدناه مع المفتاح في "
        "الترويسة X-API-Key.",
    ),
    "see_plans": ("See the plans", "اطّلع على الباقات"),
    "premium_rows": ("{rows} rows in the current version", "{rows} صفاً في الإصدار الحالي"),
    # Plans
    "plans_title": ("Premium plans", "باقات الاشتراك"),
    "plans_intro": (
        "The open datasets are free for everyone, with or without a key. Plans give a key "
        "with higher limits and access to the premium datasets: finer time grain, more "
        "dimensions and derived indicators, built from the same privacy-protected data.",
        "مجموعات البيانات المفتوحة مجانية للجميع بمفتاح أو دونه. تمنحك الباقات مفتاحاً بحدود "
        "أعلى ووصولاً إلى مجموعات البيانات المميزة: مستوى زمني أدق وأبعاد أكثر ومؤشرات "
        "مشتقة، مبنية من البيانات ذاتها بعد حماية الخصوصية.",
    ),
    "plan_rate": ("Rate limit", "حد الطلبات"),
    "plan_quota": ("Monthly quota", "الحصة الشهرية"),
    "plan_export": ("Largest export", "أكبر تصدير"),
    "plan_datasets": ("Premium datasets", "مجموعات البيانات المميزة"),
    "plan_none": ("None (open datasets only)", "لا شيء (المجموعات المفتوحة فقط)"),
    "plan_unlimited": ("No cap", "دون حد"),
    "plan_requests_rows": (
        "{requests} requests, {rows} rows",
        "{requests} طلب، {rows} صف",
    ),
    "plan_rows": ("{rows} rows", "{rows} صف"),
    "rate_second": ("{count} requests a second", "{count} طلب في الثانية"),
    "rate_minute": ("{count} requests a minute", "{count} طلب في الدقيقة"),
    "rate_hour": ("{count} requests an hour", "{count} طلب في الساعة"),
    "rate_day": ("{count} requests a day", "{count} طلب في اليوم"),
    "subscribe_title": ("How to subscribe", "كيف تشترك"),
    "subscribe_body": (
        "Ask the Bawaba administrators for a key on the plan you want. The key is shown "
        "once; send it with every request:",
        "اطلب من مشرفي بوابة مفتاحاً على الباقة التي تريدها. يظهر المفتاح مرة واحدة فقط؛ "
        "أرسله مع كل طلب:",
    ),
    "admin_command": ("An administrator creates it with:", "ينشئه المشرف بالأمر:"),
    # Errors
    "error_title": ("Something is not right", "حدث خطأ"),
    "error_back": ("Back to the datasets", "العودة إلى مجموعات البيانات"),
}
"""UI strings: key -> (English, Arabic). Templates use ``t("key", name=value)``."""

GRAINS: Mapping[str, tuple[str, str]] = {
    "day": ("Day", "يومي"),
    "month": ("Month", "شهري"),
    "quarter": ("Quarter", "ربع سنوي"),
    "year": ("Year", "سنوي"),
    "hour_of_week": ("Hour of the week", "ساعة من الأسبوع"),
    "none": ("No time grain", "دون مستوى زمني"),
}
FREQUENCIES: Mapping[str, tuple[str, str]] = {
    "daily": ("Daily", "يومياً"),
    "monthly": ("Monthly", "شهرياً"),
    "quarterly": ("Quarterly", "كل ربع سنة"),
    "annual": ("Annually", "سنوياً"),
    "irregular": ("When it changes", "عند التغيير"),
}
ROLES: Mapping[str, tuple[str, str]] = {
    "time": ("time", "زمن"),
    "dimension": ("dimension", "بُعد"),
    "measure": ("measure", "مقياس"),
    "attribute": ("attribute", "سمة"),
    "flag": ("flag", "مؤشر"),
}
TYPES: Mapping[str, tuple[str, str]] = {
    "string": ("text", "نص"),
    "integer": ("whole number", "عدد صحيح"),
    "decimal": ("decimal number", "عدد عشري"),
    "boolean": ("true/false", "صح/خطأ"),
    "date": ("date", "تاريخ"),
}
# Whose contributions the p% rule compares, as the disclosure report names them.
CONTRIBUTORS: Mapping[str, tuple[str, str]] = {
    "payers": ("payers", "الدافعين"),
    "banks": ("banks", "المصارف"),
}
# Units as catalog.yaml spells them; an unknown unit is shown as written.
UNITS: Mapping[str, tuple[str, str]] = {
    "transactions": ("transactions", "معاملة"),
    "payers": ("payers", "دافع"),
    "AED": ("UAE dirham (AED)", "درهم إماراتي"),
    "percent": ("percent", "نسبة مئوية"),
    "score": ("score", "درجة"),
    "attempts": ("attempts", "محاولة"),
    "payments": ("payments", "دفعة"),
    "refunds": ("refunds", "استرداد"),
}
_COMPACT: tuple[tuple[int, tuple[str, str]], ...] = (
    (1_000_000_000, ("bn", "مليار")),
    (1_000_000, ("m", "مليون")),
    (1_000, ("k", "ألف")),
)


def parse_lang(value: str | None) -> Lang | None:
    """``value`` if it names a language of the portal."""
    return "ar" if value == "ar" else "en" if value == "en" else None


def _from_accept_language(header: str) -> Lang | None:
    """The first of our languages in an ``Accept-Language`` header (its order, not q)."""
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        primary = parse_lang(tag.split("-")[0])
        if primary is not None:
            return primary
    return None


@dataclass(frozen=True)
class Choice:
    lang: Lang
    remember: bool
    """True when ``?lang=`` chose it: the answer sets the cookie."""


def choose_language(request: Request) -> Choice:
    """``?lang=`` first (and remember it), then the cookie, then the browser's languages."""
    asked = parse_lang(request.query_params.get("lang"))
    if asked is not None:
        return Choice(asked, remember=asked != parse_lang(request.cookies.get(COOKIE)))
    remembered = parse_lang(request.cookies.get(COOKIE))
    if remembered is not None:
        return Choice(remembered, remember=False)
    header = request.headers.get("accept-language", "")
    return Choice(_from_accept_language(header) or "en", remember=False)


@dataclass(frozen=True)
class Translator:
    """The words of one language, handed to the templates."""

    lang: Lang

    @property
    def dir(self) -> str:
        return "rtl" if self.lang == "ar" else "ltr"

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "ar" else "ar"

    def _pick(self, pair: tuple[str, str]) -> str:
        return pair[1] if self.lang == "ar" else pair[0]

    def __call__(self, key: str, **values: object) -> str:
        text = self._pick(UI[key])
        return text.format(**values) if values else text

    def text(self, value: Bilingual) -> str:
        """A catalog or reference text in this language."""
        return value.ar if self.lang == "ar" else value.en

    def term(self, table: Mapping[str, tuple[str, str]], key: str) -> str:
        pair = table.get(key)
        return key if pair is None else self._pick(pair)

    def number(self, value: object, places: int | None = None) -> str:
        """Grouped digits; ``places`` decimals for a decimal (two unless given)."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return self("yes") if value else self("no")
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float | Decimal):
            return f"{value:,.{2 if places is None else places}f}"
        return str(value)

    def compact(self, value: float) -> str:
        """A large number in words a reader takes in at once: 5.6 bn, 4.5 m."""
        magnitude = abs(value)
        for size, words in _COMPACT:
            if magnitude >= size:
                return f"{value / size:,.1f} {self._pick(words)}"
        return self.number(round(value))

    def rate(self, limits: str) -> str:
        """Limits in slowapi notation (``600/minute;20000/hour``) in words; a part as
        written if unusual."""
        words = []
        for limit in limits.split(";"):
            count, _, period = limit.strip().partition("/")
            key = f"rate_{period}"
            words.append(
                self(key, count=self.number(int(count))) if count.isdigit() and key in UI else limit
            )
        return ("، " if self.lang == "ar" else ", ").join(words)

    def percent(self, value: float, signed: bool = False) -> str:
        # The sign sits before the digits in both languages: a bidi isolate in the
        # template keeps it there on a right-to-left page.
        return f"{value:+.1f} %" if signed else f"{value:.1f} %"
