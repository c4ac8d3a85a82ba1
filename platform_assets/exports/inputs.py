"""What the exports read from the warehouse: the one place that names upstream tables and columns.

The segments models are young; their column names beyond customer_id, segment and as_of_date
come from `CUSTOMER_FEATURE_COLUMNS` in the exports settings.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl

from platform_assets.exports.build import (
    ExportInputs,
    end_of_day,
    no_audiences,
    no_unreadable_consent,
)
from platform_assets.exports.settings import (
    AUDIENCE_CARRY_DAYS,
    BOUNCE_EVENTS,
    BOUNCE_RECOVERY_EVENTS,
    COMPLAINT_EVENTS,
    CONSENT_PURPOSE,
    CUSTOMER_FEATURE_COLUMNS,
    SUPPRESSION_LOOKALIKE,
    UNSUBSCRIBE_EVENTS,
)
from platform_assets.transform.assets import SEGMENT_MEMBERSHIP
from resources import WarehouseSession

CUSTOMER_FEATURES = dg.AssetKey(["segments", "customer_features"])
GOLDEN_CUSTOMERS = dg.AssetKey(["identity", "golden_customers"])
CUSTOMER_RECORDS = dg.AssetKey(["identity", "customer_records"])
PERSON_RECORDS = dg.AssetKey(["identity", "person_records"])
# The one consent every export reads (platform_assets/exports/consent_state.py).
CONSENT_STATE = dg.AssetKey(["exports", "consent_state"])
CONSENT = dg.AssetKey(["cleaned", "consent"])
EMAIL_EVENTS = dg.AssetKey(["cleaned", "email_events"])
# An address inside a line of text (a consent line that could not be parsed).
ADDRESS_IN_TEXT = r"[^@\s,;\"']+@[^@\s,;\"']+\.[^@\s,;\"']+"
ORDERS = dg.AssetKey(["cleaned", "orders"])
PRODUCTS = dg.AssetKey(["cleaned", "products"])
# The layer's own earlier output: which audiences had members on recent days.
EXPORTED_AUDIENCES = "exports.audiences"
UPSTREAM = [
    CONSENT_STATE,
    SEGMENT_MEMBERSHIP,
    CUSTOMER_FEATURES,
    GOLDEN_CUSTOMERS,
    CUSTOMER_RECORDS,
    CONSENT,
    EMAIL_EVENTS,
    ORDERS,
    PRODUCTS,
]
SUPPRESSION_EVENTS = (
    *UNSUBSCRIBE_EVENTS,
    *COMPLAINT_EVENTS,
    *BOUNCE_EVENTS,
    *BOUNCE_RECOVERY_EVENTS,
)


def table_name(key: dg.AssetKey) -> str:
    """One name per layer: asset `segments/customer_features` is `segments.customer_features`."""
    return ".".join(key.path)


def read_export_inputs(db: WarehouseSession, day: date) -> ExportInputs:
    """The inputs of day `day`'s exports, as of the end of that day."""
    features = CUSTOMER_FEATURE_COLUMNS
    # Segment membership is read once: the golden records are those of its members.
    members = db.query(
        f"select distinct customer_id, segment from {table_name(SEGMENT_MEMBERSHIP)}"
        " where as_of_date = ?",
        [day],
    )
    recent_audiences = (
        db.query(
            f"select distinct audience_id from {EXPORTED_AUDIENCES}"
            " where as_of_date < ? and as_of_date >= ? and segment_members > 0",
            [day, day - timedelta(days=AUDIENCE_CARRY_DAYS)],
        )
        if db.table_exists(EXPORTED_AUDIENCES)
        else no_audiences()
    )
    return ExportInputs(
        members=members,
        customers=db.query(
            f"""
            select customer_id, email, first_name from {table_name(GOLDEN_CUSTOMERS)}
            where customer_id in (select unnest(?::varchar[]))
            """,
            [members["customer_id"].unique().to_list()],
        ),
        # The latest features up to the day, so a person whose features were not recomputed
        # that day still gets tokens.
        features=db.query(
            f"""
            select
                customer_id,
                "{features["favourite_category"]}"::varchar as favourite_category,
                "{features["last_purchased_product"]}"::varchar as last_purchased_product
            from {table_name(CUSTOMER_FEATURES)}
            where as_of_date <= ?
            qualify row_number() over (partition by customer_id order by as_of_date desc) = 1
            """,
            [day],
        ),
        consent_state=db.query(
            f"select customer_id, exclusion_reason from {table_name(CONSENT_STATE)}"
            " where as_of_date = ? and purpose = ?",
            [day, CONSENT_PURPOSE],
        )
        if db.table_exists(table_name(CONSENT_STATE))
        else pl.DataFrame(schema={"customer_id": pl.String, "exclusion_reason": pl.String}),
        # An order line is re-sent when its status changes: the latest landed by the day counts.
        # Buyers map to customers through the current identity graph, like the segment members
        # (dbt re-points facts at the current customer_id): after a merge, a re-run of an old
        # day still knows everything the merged person owns.
        order_lines=db.query(
            f"""
            with lines as (
                select order_id, customer_id as shop_customer_id, sku, status
                from {table_name(ORDERS)}
                where _partition_date <= ? and ordered_at < ?
                qualify row_number() over (
                    partition by order_id, line_number
                    order by _partition_date desc, _row_number desc
                ) = 1
            ),
            customers as (
                select source_record_id, customer_id from {table_name(CUSTOMER_RECORDS)}
                where source = 'shop_customers' and valid_to is null
            )
            select lines.order_id, customers.customer_id, lines.sku, lines.status
            from lines
            left join customers on customers.source_record_id = lines.shop_customer_id
            """,
            [day, end_of_day(day)],
        ),
        products=db.query(
            f"""
            select sku, name, category from {table_name(PRODUCTS)}
            where _partition_date <= ?
            qualify row_number() over (
                partition by sku order by updated_at desc, _partition_date desc
            ) = 1
            """,
            [day],
        ),
        recent_audiences=recent_audiences,
        unreadable_consent=read_unreadable_consent(db),
    )


def consent_held_back_by(db: WarehouseSession, day: date) -> list[str]:
    """Consent that could not be read at all, landed by `day`: every consent file the raw layer
    rejected, and every rejected consent line with no address in it. Any of them holds the
    day's exports back: the statement nobody can read may be a withdrawal of anyone."""
    found = []
    if db.table_exists("raw.landed_files"):
        found += [
            f"{row['file']}: {row['reason']}"
            for row in db.query(
                "select file, reason from raw.landed_files where source = 'consent'"
                " and status = 'rejected' and _partition_date <= ? order by file",
                [day],
            ).to_dicts()
        ]
    if db.table_exists("raw.rejected_lines"):
        found += [
            f"{row['file']} line {row['row_number']}: {row['reason']}"
            for row in db.query(
                "select file, row_number, reason from raw.rejected_lines"
                " where source = 'consent' and _partition_date <= ?"
                " and regexp_extract(raw_text, ?) = '' order by file, row_number",
                [day, ADDRESS_IN_TEXT],
            ).to_dicts()
        ]
    return found


def read_unreadable_consent(db: WarehouseSession) -> pl.DataFrame:
    """Consent statements and suppressions the cleaned layer quarantined, whenever they
    landed: every consent row, and the email events whose type is or looks like a suppression.
    The address is read from the row as it landed, trimmed and lower-cased."""
    selects, parameters = [], []
    if db.table_exists("cleaned.consent_quarantine"):
        selects.append(
            """select lower(trim(json_extract_string(original_record, '$.subject_email')))
                as email, 'consent' as source, _source_file as source_file,
                _row_number as row_number, failed_rules as rule, _partition_date as landed_on
            from cleaned.consent_quarantine"""
        )
    if db.table_exists("cleaned.email_events_quarantine"):
        selects.append(
            """select lower(trim(json_extract_string(original_record, '$.email'))),
                'email_events', _source_file, _row_number, failed_rules, _partition_date
            from cleaned.email_events_quarantine
            where list_contains(?, lower(trim(json_extract_string(original_record,
                    '$.event_type'))))
                or regexp_matches(lower(json_extract_string(original_record, '$.event_type')),
                    ?)"""
        )
        parameters += [list(SUPPRESSION_EVENTS), SUPPRESSION_LOOKALIKE]
    if db.table_exists("raw.rejected_lines"):
        # A consent line the raw layer could not even split into fields: the address found in
        # its text is held back (a line with none holds the whole day, see held_back_by).
        selects.append(
            """select lower(regexp_extract(raw_text, ?)), 'consent', file, row_number,
                'unreadable_line:' || reason, _partition_date
            from raw.rejected_lines
            where source = 'consent' and regexp_extract(raw_text, ?) <> ''"""
        )
        parameters += [ADDRESS_IN_TEXT, ADDRESS_IN_TEXT]
    if not selects:
        return no_unreadable_consent()
    found = db.query(" union all ".join(selects) + " order by 3, 4", parameters)
    return found.cast(no_unreadable_consent().schema)
