"""How each department's own system exports its records.

A dialect is a vendor system's export format: file type, column names, how it writes
timestamps and amounts, and the labels it uses for coded values. Departments on the same
vendor system share a dialect and differ in the extra columns they keep (``extra_columns``
in their profile). This is the departments' side of the interface; Bawaba's side is the
mapping in each ``pipelines/<dept>.py``, written independently.

Fields are named by the simulator's internal record (see ``RAW_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# The simulator's internal record, before a dialect renames and formats it.
RAW_FIELDS: tuple[str, ...] = (
    "record_id",  # the department system's sequence number (the HTTP watermark)
    "reference",
    "record_type",
    "original_reference",
    "occurred_at",
    "service_code",
    "channel",
    "payment_method",
    "bank",
    "status",
    "amount",
    "payer_type",
    "payer_name",
    "emirates_id",
    "trade_licence",
    "mobile",
    "email",
    "card_number",
    "iban",
    "account_number",
    "plate_number",
    "address",
    "area",
    "customer_id",
    "ip_address",
    "remarks",
    "rating",
)

# Fields only some departments keep; the profile says which (account_number for a utility,
# plate_number for traffic, ...). Every other field is in every export of the dialect.
OPTIONAL_FIELDS: frozenset[str] = frozenset({"account_number", "plate_number", "ip_address"})

Format = Literal["csv", "jsonl", "parquet", "http"]
TimestampStyle = Literal["dmy_text", "iso_text", "iso_offset_text", "native"]
AmountStyle = Literal["aed_grouped_text", "fils_integer", "aed_float", "aed_decimal"]


@dataclass(frozen=True)
class Dialect:
    name: str
    format: Format
    columns: Mapping[str, str]
    """Internal field -> the department's column name."""
    timestamp: TimestampStyle
    """dmy_text ``31/12/2013 23:59:59``; iso_text ``2013-12-31T23:59:59``; iso_offset_text
    ``2013-12-31T23:59:59+04:00``; native: a Parquet timestamp."""
    amount: AmountStyle
    """aed_grouped_text ``"1,234.50"``; fils_integer ``123450``; aed_float ``1234.5``;
    aed_decimal: Parquet decimal(18,2)."""
    values: Mapping[str, Mapping[str, str | int]] = field(default_factory=dict)
    """Internal field -> {internal code: the department's label}; identity when absent."""


ORACLE_CSV_AR = Dialect(
    name="oracle_csv_ar",
    format="csv",  # UTF-8 with a byte-order mark, as Excel-friendly exports are
    columns={
        "record_id": "رقم السجل",
        "reference": "رقم المعاملة",
        "record_type": "نوع الحركة",
        "original_reference": "المعاملة الأصلية",
        "occurred_at": "تاريخ العملية",
        "service_code": "رمز الخدمة",
        "channel": "القناة",
        "payment_method": "طريقة الدفع",
        "bank": "البنك",
        "status": "الحالة",
        "amount": "المبلغ",
        "payer_type": "نوع المتعامل",
        "payer_name": "اسم المتعامل",
        "emirates_id": "رقم الهوية",
        "trade_licence": "الرخصة التجارية",
        "mobile": "الهاتف المتحرك",
        "email": "البريد الإلكتروني",
        "card_number": "رقم البطاقة",
        "iban": "رقم الآيبان",
        "account_number": "رقم الحساب",
        "plate_number": "رقم اللوحة",
        "address": "العنوان",
        "area": "المنطقة",
        "customer_id": "رقم المتعامل",
        "ip_address": "عنوان IP",
        "remarks": "ملاحظات",
        "rating": "التقييم",
    },
    timestamp="dmy_text",
    amount="aed_grouped_text",
    values={
        "record_type": {"payment": "دفع", "refund": "استرداد"},
        "channel": {
            "internet": "الموقع الإلكتروني",
            "mobile_app": "التطبيق الذكي",
            "sms": "رسالة نصية",
            "kiosk": "جهاز الخدمة الذاتية",
            "ivr": "الرد الآلي",
            "call_centre": "مركز الاتصال",
            "counter": "مركز الخدمة",
        },
        "payment_method": {
            "credit_card": "بطاقة ائتمان",
            "direct_debit": "خصم مباشر",
            "edirham": "درهم إلكتروني",
            "edirham_g2": "درهم إلكتروني - الجيل الثاني",
            "cash": "نقداً",
        },
        "status": {"success": "ناجحة", "failed": "مرفوضة"},
        "payer_type": {"individual": "فرد", "company": "شركة", "government": "جهة حكومية"},
    },
)

SAP_JSONL = Dialect(
    name="sap_jsonl",
    format="jsonl",
    columns={
        "record_id": "docNumber",
        "reference": "paymentRef",
        "record_type": "movementType",
        "original_reference": "reversalOf",
        "occurred_at": "postingTime",
        "service_code": "serviceId",
        "channel": "salesChannel",
        "payment_method": "payMethod",
        "bank": "bankKey",
        "status": "paymentStatus",
        "amount": "amountFils",
        "payer_type": "partnerCategory",
        "payer_name": "partnerName",
        "emirates_id": "nationalId",
        "trade_licence": "licenceNo",
        "mobile": "mobileNo",
        "email": "emailAddr",
        "card_number": "cardPan",
        "iban": "payerIban",
        "account_number": "contractAccount",
        "plate_number": "vehiclePlate",
        "address": "partnerAddress",
        "area": "district",
        "customer_id": "partnerId",
        "ip_address": "clientIp",
        "remarks": "memo",
        "rating": "csatScore",
    },
    timestamp="iso_text",
    amount="fils_integer",
    values={
        "record_type": {"payment": "PAY", "refund": "REV"},
        "channel": {
            "internet": "WEB",
            "mobile_app": "MOB",
            "sms": "SMS",
            "kiosk": "KSK",
            "ivr": "IVR",
            "call_centre": "CCT",
            "counter": "CTR",
        },
        "payment_method": {
            "credit_card": "CC",
            "direct_debit": "DD",
            "edirham": "ED1",
            "edirham_g2": "ED2",
            "cash": "CSH",
        },
        "status": {"success": "S", "failed": "F"},
        "payer_type": {"individual": "P", "company": "O", "government": "G"},
    },
)

REST_JSON = Dialect(
    name="rest_json",
    format="http",
    columns={name: name for name in RAW_FIELDS} | {"occurred_at": "timestamp"},
    timestamp="iso_offset_text",
    amount="aed_float",
)

WAREHOUSE_PARQUET = Dialect(
    name="warehouse_parquet",
    format="parquet",
    columns={
        "record_id": "ROW_ID",
        "reference": "TXN_REF",
        "record_type": "TXN_KIND",
        "original_reference": "ORIG_TXN_REF",
        "occurred_at": "TXN_TS",
        "service_code": "SVC_CODE",
        "channel": "CHANNEL_ID",
        "payment_method": "PAY_METHOD_ID",
        "bank": "BANK_CODE",
        "status": "STATUS_ID",
        "amount": "AMOUNT_AED",
        "payer_type": "CUST_TYPE",
        "payer_name": "CUST_NAME",
        "emirates_id": "EID",
        "trade_licence": "TL_NO",
        "mobile": "MOBILE",
        "email": "EMAIL",
        "card_number": "CARD_NO",
        "iban": "IBAN",
        "account_number": "ACCOUNT_NO",
        "plate_number": "PLATE_NO",
        "address": "ADDR",
        "area": "AREA_NAME",
        "customer_id": "CUST_ID",
        "ip_address": "IP_ADDR",
        "remarks": "NOTES",
        "rating": "CSAT",
    },
    timestamp="native",
    amount="aed_decimal",
    values={
        "record_type": {"payment": 1, "refund": 2},
        "channel": {
            "internet": 1,
            "mobile_app": 2,
            "sms": 3,
            "kiosk": 4,
            "ivr": 5,
            "call_centre": 6,
            "counter": 9,
        },
        "payment_method": {
            "credit_card": 10,
            "direct_debit": 20,
            "edirham": 30,
            "edirham_g2": 31,
            "cash": 90,
        },
        "status": {"success": 0, "failed": 1},
        "payer_type": {"individual": "I", "company": "C", "government": "G"},
    },
)

DIALECTS: dict[str, Dialect] = {
    d.name: d for d in (ORACLE_CSV_AR, SAP_JSONL, REST_JSON, WAREHOUSE_PARQUET)
}
