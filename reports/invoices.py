"""Closing a month: `syncd invoice close --month 2026-10` freezes what was invoiced.

The document as sent is kept and shown from then on. For every adjustment the closed invoice
carries (changes found in earlier closed months), the month it corrects gets a new baseline:
its recomputed state at this moment. So a change is billed exactly once, in the first invoice
closed after it was made.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from reports.billing import Billing, BillingError
from reports.codec import to_plain
from reports.model import ClientInvoice
from syncd.config import Config
from syncd.state import Store


def close_month(
    config: Config,
    store: Store,
    month: str,
    *,
    generated_at: datetime,
    clients: list[str] | None = None,
) -> list[ClientInvoice]:
    billing = Billing(config, store)
    chosen = [c for c in config.clients if not clients or c.id in clients]
    closed = [c.id for c in chosen if store.invoice(month, c.id)]
    if closed:
        raise BillingError(
            f"{month} is already closed for {', '.join(closed)}: a sent invoice "
            "never changes; later changes appear as adjustments next month"
        )
    invoices = []
    with store.atomic():
        for client in chosen:
            invoice = dataclasses.replace(billing.invoice(client, month), frozen=True)
            store.save_invoice(month, client.id, _dump(invoice))
            for corrected in sorted({a.month for a in invoice.adjustments}):
                store.set_baseline(corrected, client.id, _dump(billing.compute(client, corrected)))
            invoices.append(invoice)
    return invoices


def _dump(invoice: ClientInvoice) -> str:
    return json.dumps(to_plain(invoice), sort_keys=True, ensure_ascii=False)
