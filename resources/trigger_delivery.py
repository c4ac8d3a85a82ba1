"""Where triggered emails go: the email platform's webhook, or a JSONL file per day.

With CDP_TRIGGER_WEBHOOK_URL set, the due sends are POSTed as `{"sends": [...]}` in batches,
each with bounded retries and back-off; a batch the endpoint acknowledged (2xx) is delivered,
any other is retried on the next run. Without it, the sends of a day are written to
`<CDP_EXPORT_DIR>/trigger_sends/<day>.jsonl`, rewritten whole (temporary name, rename) so a
reader never sees half a file. Either way every send carries its `send_key`: a send that went
out just before a crash is sent again under the same key, and the receiver drops the repeat.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from resources.alerts import post_with_retries
from resources.export_dir import resolve_export_dir
from resources.landing_zone import replace_atomically

# Sends per webhook request: small enough that a failed request costs little to retry.
BATCH_SIZE = 100
FILE_FOLDER = "trigger_sends"


@dataclass(frozen=True)
class Delivery:
    acknowledged: set[str]  # send keys
    status: str  # what an acknowledged send becomes: "delivered" or "written"
    failure: str  # why the others were not, "" when none failed


class TriggerDelivery(dg.ConfigurableResource):
    """Empty `webhook_url` means CDP_TRIGGER_WEBHOOK_URL (unset: the JSONL file); empty
    `export_root` means CDP_EXPORT_DIR."""

    webhook_url: str = ""
    export_root: str = ""

    @property
    def url(self) -> str | None:
        return self.webhook_url or os.environ.get("CDP_TRIGGER_WEBHOOK_URL") or None

    def file_for(self, day: date) -> Path:
        return (
            resolve_export_dir(self.export_root or None) / FILE_FOLDER / f"{day.isoformat()}.jsonl"
        )

    def deliver(self, day: date, sends: Sequence[dict[str, Any]]) -> Delivery:
        if not sends:
            return Delivery(set(), "delivered", "")
        url = self.url
        if url is None:
            return self._write(day, sends)
        acknowledged: set[str] = set()
        failure = ""
        for start in range(0, len(sends), BATCH_SIZE):
            batch = list(sends[start : start + BATCH_SIZE])
            outcome = post_with_retries(url, {"sends": batch}, "trigger")
            if outcome == "delivered":
                acknowledged |= {send["send_key"] for send in batch}
            else:
                failure = outcome
        return Delivery(acknowledged, "delivered", failure)

    def _write(self, day: date, sends: Sequence[dict[str, Any]]) -> Delivery:
        path = self.file_for(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text().splitlines() if path.exists() else []
        present = {json.loads(line)["send_key"] for line in lines if line.strip()}
        lines += [
            json.dumps(send, sort_keys=True) for send in sends if send["send_key"] not in present
        ]
        replace_atomically(path, ("\n".join(lines) + "\n").encode())
        return Delivery({send["send_key"] for send in sends}, "written", "")
