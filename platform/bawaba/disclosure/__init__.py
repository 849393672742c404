"""Statistical disclosure control for published cell tables (PRIVACY.md, S2); pure, no I/O.

``protect(tables)`` runs the whole of it: primary suppression (k and p% rules), secondary
suppression over the relations that link the tables, and the linear-programming audit of
what a reader can still derive; it returns the tables with their ``suppressed`` flags and
the audit report, or raises :class:`DisclosureError`.
"""

from bawaba.disclosure.audit import AuditReport, CellAudit, audit
from bawaba.disclosure.linked import Linkage, Relation, cycle, link, relation, relations
from bawaba.disclosure.model import (
    PER_TRANSACTION_HIGH,
    PER_TRANSACTION_LOW,
    SUPPRESSED,
    AuditTable,
    DisclosureError,
    QuantityKind,
    quantity_kind,
    redact,
    top_columns,
)
from bawaba.disclosure.primary import primary, sensitive, sensitive_share
from bawaba.disclosure.protect import protect
from bawaba.disclosure.secondary import secondary, unsafe_groups

__all__ = [
    "PER_TRANSACTION_HIGH",
    "PER_TRANSACTION_LOW",
    "SUPPRESSED",
    "AuditReport",
    "AuditTable",
    "CellAudit",
    "DisclosureError",
    "Linkage",
    "QuantityKind",
    "Relation",
    "audit",
    "cycle",
    "link",
    "primary",
    "protect",
    "quantity_kind",
    "redact",
    "relation",
    "relations",
    "secondary",
    "sensitive",
    "sensitive_share",
    "top_columns",
    "unsafe_groups",
]
