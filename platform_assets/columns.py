"""What each column means, once for every table that carries it.

A column keeps its name from the landing contract to the exports, so one description serves
raw, cleaned, identity and exports (and dbt models whose YAML gives none). The Dagster UI shows
these beside each column's type; a test holds every column of the Python layers to having one.
"""

from __future__ import annotations

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # Lineage, on every raw and cleaned row.
    "_partition_date": "The landing day (folder) the row was loaded from: the partition.",
    "_source_file": "The landing file the row came from, relative to the landing root.",
    "_row_number": "The row's line (CSV, JSONL) or row (Parquet) number in its file, from 1.",
    "_loaded_at": "When raw loaded the row (UTC).",
    "_extra": "Columns the file carried beyond the contract, as JSON: kept, never dropped.",
    # Source keys.
    "contact_id": "The CRM's id of the contact.",
    "customer_id": "The platform's stable customer id (`cus_` and 12 digits) or, in "
    "shop_customers and orders, the shop's own account id.",
    "shop_customer_id": "The shop's own account id.",
    "order_id": "The shop's order id.",
    "line_number": "The line's position within its order, from 1.",
    "event_id": "The source's id of the event; a repeated id is the same event delivered again.",
    "ticket_id": "The support system's ticket id.",
    "sku": "The product's stock-keeping unit, the product key.",
    "campaign_id": "The email campaign the event belongs to.",
    "user_id": "The shop account id a logged-in web visitor used, when known.",
    "anonymous_id": "The web analytics cookie id of the visitor.",
    "visitor_id": "The visitor: the customer when known, else the anonymous cookie id.",
    "session_id": "A web session: one visitor's events with no gap of 30 minutes.",
    # People. Direct identifiers: raw, cleaned and identity only (and exports' email).
    "first_name": "Given name, trimmed and title-cased (personal data).",
    "last_name": "Family name, trimmed and title-cased (personal data).",
    "email": "Email address, lower-cased and checked for shape (personal data).",
    "phone": "Phone number in E.164 form (+4420…), checked with phonenumbers (personal data).",
    "date_of_birth": "Date of birth; implausible dates are nulled (personal data).",
    "street_address": "Street and number (personal data).",
    "city": "City or town.",
    "postcode": "Postal code, upper-cased (personal data).",
    "region": "Region, state or county.",
    "country": "ISO 3166-1 alpha-2 country code (pycountry).",
    "requester_email": "Email address of the person who opened the ticket (personal data).",
    "requester_name": "Name of the person who opened the ticket (personal data).",
    "requester_phone": "Phone of the person who opened the ticket, E.164 (personal data).",
    "subject_email": "Email address the consent statement is about (personal data).",
    "email_hash": "Salted SHA-256 of the email address: joins without the address itself.",
    "requester_email_hash": "Salted SHA-256 of the requester's email address.",
    # Times.
    "created_at": "When the source created the record (UTC).",
    "updated_at": "When the source last changed the record (UTC): its version.",
    "ordered_at": "When the order was placed (UTC).",
    "occurred_at": "When the event happened (UTC).",
    "opened_at": "When the ticket was opened (UTC).",
    "closed_at": "When the ticket was closed (UTC), null while open.",
    "decided_at": "When the steward decided the override (UTC).",
    "field": "The golden record field a person asked to correct (first_name, email, ...).",
    "value": "The corrected value, as the field holds it (personal data).",
    "requested_at": "When the person asked for the correction (UTC).",
    "recorded_at": "When the statement or event was recorded (UTC).",
    "observed_at": "When the record's source last said this about the person (UTC).",
    "first_seen_at": "The earliest time any of the customer's records was observed (UTC).",
    "last_seen_at": "The latest time any of the customer's records was observed (UTC).",
    "started_at": "When the session's first event happened (UTC).",
    "ended_at": "When the session's last event happened (UTC).",
    "session_started_at": "When the session the event belongs to started (UTC).",
    "as_of_date": "The day the row was evaluated as of (its end): the partition.",
    "partition_date": "The landing day the row was built from: the partition.",
    "updated_partition": "The partition that last changed the row.",
    "valid_from": "The partition from which this version holds.",
    "valid_to": "The partition before which this version stopped holding; null: current.",
    # Orders, products, web, email, support.
    "status": "The record's state in its source system, from the contract's vocabulary.",
    "quantity": "Units ordered on the line.",
    "unit_price": "Price of one unit in the order's currency.",
    "currency": "ISO 4217 currency code (pycountry).",
    "name": "The product's display name.",
    "category": "The product's category.",
    "brand": "The product's brand.",
    "price": "The product's list price in its currency.",
    "event_type": "What happened, from the contract's vocabulary for the source.",
    "url": "The page's URL, query string included.",
    "device_type": "desktop, mobile or tablet.",
    "utm_source": "The utm_source of the visit, when tagged.",
    "utm_campaign": "The utm_campaign of the visit, when tagged.",
    "channel": "Where the ticket came in: email, chat, phone or web.",
    "priority": "The ticket's priority: low, normal, high or urgent.",
    "csat_score": "The requester's satisfaction score, 1 to 5, when given.",
    "purpose": "What the consent covers, e.g. email_marketing.",
    # Identity.
    "record_key": "A person record across sources: `<source>:<source record id>`.",
    "source": "The source system the record or row came from.",
    "source_record_id": "The record's id in its source system.",
    "record_hash": "Hash of the record's identifying fields: a new version when it changes.",
    "left_record_key": "The edge's record with the smaller key.",
    "right_record_key": "The edge's record with the greater key.",
    "edge_type": "Why two records are linked: a deterministic rule, a Splink score or an override.",
    "match_probability": "Splink's match probability (1 for deterministic edges).",
    "match_weight": "Splink's match weight (log2 Bayes factor), null for deterministic edges.",
    "other_customer_id": "The other customer of a merge or split.",
    "record_count": "How many current records the customer has.",
    "sources": "The sources the customer's records come from, comma-separated.",
    "reason": "Why: the rule that quarantined a row, the cause of an identity event, or the "
    "reason a steward gave.",
    "rule": "The override: always_link or never_link.",
    "model_version": "The Splink model version that scored the pairs.",
    # The review queue.
    "kind": "Why the pair is queued: uncertain (scored in the review band) or cut_by_guard.",
    "left_customer_id": "The customer the pair's left record is under now.",
    "right_customer_id": "The customer the pair's right record is under now.",
    "contributions": "Splink's waterfall as JSON: the prior, then each comparison's level and "
    "the match weight it adds; they sum to match_weight.",
    "suggested_decision": "The override the queue suggests: always_link or never_link.",
    # Exports.
    "audience_id": "The audience's id, also its CSV file's name.",
    "audience_name": "The audience's display name.",
    "description": "What the audience is for, from segments.yml.",
    "size": "How many consenting people the audience holds on the day.",
    "segment_members": "How many people the segment held before the consent gate: size plus "
    "every excluded_ count.",
    # EXCLUSION_REASONS of the exports' settings (importing them here would be circular; the UI
    # test fails on an undescribed column)
    **{
        f"excluded_{reason}": f"Segment members left out of the audience for `{reason}`."
        for reason in (
            *("no_email", "unreadable_consent", "no_consent", "withdrawn", "complaint"),
            *("hard_bounce", "unsubscribed", "shared_email"),
        )
    },
    "consent_snapshot_sha256": "SHA-256 of the consent state the day's exports were decided on.",
    "favourite_category": "The category the person bought most in the last 365 days.",
    "last_purchased_product": "The name of the product the person bought last.",
    "because_you_bought": "The product the recommendations are based on.",
    **{
        f"recommended_product_{n}{suffix}": f"Recommendation {n}: {what}."
        for n in (1, 2, 3)
        for suffix, what in (("", "a product's name"), ("_sku", "its SKU"))
    },
}


# The golden record keeps, beside each surviving value, where and when it came from.
_PROVENANCE = {
    "_source": "The record (`record_key`) the golden `{field}` was taken from.",
    "_observed_at": "When that record said this `{field}` (UTC).",
}


def describe(column: str) -> str | None:
    if column in COLUMN_DESCRIPTIONS:
        return COLUMN_DESCRIPTIONS[column]
    # The review queue shows both records of a pair side by side.
    for side in ("left", "right"):
        field = column.removeprefix(f"{side}_")
        if field != column and field in COLUMN_DESCRIPTIONS:
            return (
                f"The {side} record's `{field}`: "
                + COLUMN_DESCRIPTIONS[field][0].lower()
                + COLUMN_DESCRIPTIONS[field][1:]
            )
    for suffix, what in _PROVENANCE.items():
        field = column.removesuffix(suffix)
        if field != column and field in COLUMN_DESCRIPTIONS:
            return what.format(field=field)
    return None
