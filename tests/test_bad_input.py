"""The bad-input corpus: each case ends in a clear message, and every row is accounted for."""

from __future__ import annotations

import gzip
import io

import polars as pl
import pytest

from tests.conftest import DAY, LandFile, MaterializeDay, check_results

EMAIL_HEADER = "event_id,occurred_at,email,campaign_id,event_type,url"
GOOD_EMAIL_ROWS = [
    "e1,2026-11-02T10:00:00Z,ann@example.com,c1,open,",
    "e2,2026-11-02T11:00:00Z,bob@example.com,c1,click,https://shop.example.com/p/1",
]


def _email_csv(*rows: str) -> str:
    return "\n".join([EMAIL_HEADER, *rows]) + "\n"


def _assert_conserved(result, source: str) -> None:
    conservation = check_results(result)[(f"cleaned/{source}", "conservation")]
    assert conservation.passed, conservation.description


def test_day_without_files_is_an_empty_partition_not_a_failure(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land("products", "products.csv", "sku,name\nSKU-1,Mug\n")  # another source landed
    result = materialize_day('key:"*/email_events"')
    assert result.success
    checks = check_results(result)
    assert checks[("raw/email_events", "files_readable")].passed
    assert warehouse.query("select count(*) as n from cleaned.email_events")["n"][0] == 0
    _assert_conserved(result, "email_events")


@pytest.mark.parametrize(
    ("content", "note"),
    [(b"", "empty file"), (EMAIL_HEADER + "\n", None)],
    ids=["empty-file", "header-only"],
)
def test_empty_file_and_header_only_load_zero_rows(
    land: LandFile, materialize_day: MaterializeDay, warehouse, content, note
) -> None:
    land("email_events", "a.csv", content)
    result = materialize_day('key:"*/email_events"')
    checks = check_results(result)
    assert checks[("raw/email_events", "files_readable")].passed
    landed = warehouse.query("select status, reason, rows_loaded from raw.landed_files").to_dicts()
    assert landed[0]["status"] == "loaded" and landed[0]["rows_loaded"] == 0
    assert (note is None) == (landed[0]["reason"] is None)
    _assert_conserved(result, "email_events")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("semicolons.csv", _email_csv().replace(",", ";"), "';'-delimited"),
        ("no_email.csv", "event_id,occurred_at,event_type\ne9,2026-11-02,open\n", "email"),
        (
            "latin1.csv",
            _email_csv("e9,2026-11-02,zoë@example.com,,open,").encode("latin-1"),
            "UTF-8",
        ),
        ("cut.csv.gz", gzip.compress(_email_csv(*GOOD_EMAIL_ROWS).encode())[:-12], "gzip"),
        ("cut.parquet", b"PAR1\x00\x00garbage", "Parquet"),
        ("notes.txt", "hello", "unsupported file type"),
    ],
    ids=[
        "wrong-delimiter",
        "missing-required-column",
        "not-utf8",
        "truncated-gzip",
        "truncated-parquet",
        "unknown-suffix",
    ],
)
def test_unreadable_file_is_rejected_by_name_and_the_others_still_load(
    land: LandFile, materialize_day: MaterializeDay, warehouse, name, content, reason
) -> None:
    land("email_events", "good.csv", _email_csv(*GOOD_EMAIL_ROWS))
    land("email_events", name, content)
    result = materialize_day('key:"*/email_events"')
    check = check_results(result)[("raw/email_events", "files_readable")]
    assert not check.passed
    assert f"email_events/{DAY}/{name}" in check.description and reason in check.description
    rejected = warehouse.query("select file, reason from raw.rejected_files").to_dicts()
    assert [r["file"] for r in rejected] == [f"email_events/{DAY}/{name}"]
    assert warehouse.query("select count(*) as n from cleaned.email_events")["n"][0] == 2
    _assert_conserved(result, "email_events")


def test_broken_json_line_is_kept_with_its_text_while_good_lines_load(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    good = (
        '{"event_id": "e1", "occurred_at": "2026-11-02T10:00:00Z", "email": "a@b.com",'
        ' "event_type": "open"}'
    )
    land(
        "email_events",
        "events.jsonl",
        "\n".join([good, '{"event_id": "e2", "occurred', good.replace("e1", "e3")]),
    )
    result = materialize_day('key:"*/email_events"')
    check = check_results(result)[("raw/email_events", "lines_readable")]
    assert not check.passed and check.severity.value == "WARN"
    lines = warehouse.query(
        "select row_number, raw_text, reason from raw.rejected_lines"
    ).to_dicts()
    assert lines == [
        {"row_number": 2, "raw_text": '{"event_id": "e2", "occurred', "reason": lines[0]["reason"]}
    ]
    assert "invalid JSON" in lines[0]["reason"]
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 2


def test_csv_row_with_wrong_field_count_is_rejected_alone(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land(
        "email_events", "a.csv", _email_csv(GOOD_EMAIL_ROWS[0], "e5,2026-11-02", GOOD_EMAIL_ROWS[1])
    )
    materialize_day('key:"raw/email_events"')
    lines = warehouse.query("select row_number, reason from raw.rejected_lines").to_dicts()
    assert lines == [{"row_number": 2, "reason": "expected 6 fields as in the header, found 2"}]
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 2


def test_unparseable_dates_quarantine_required_and_null_optional_values(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land(
        "crm_contacts",
        "contacts.csv",
        "contact_id,first_name,email,date_of_birth,updated_at\n"
        "c1,ann,ann@example.com,31/02/1990,2026-11-02 09:00:00\n"
        "c2,bob,bob@example.com,1985-04-12,yesterday\n",
    )
    result = materialize_day('key:"*/crm_contacts"')
    _assert_conserved(result, "crm_contacts")
    kept = warehouse.query("select contact_id, date_of_birth from cleaned.crm_contacts").to_dicts()
    assert kept == [{"contact_id": "c1", "date_of_birth": None}]
    issue = warehouse.query(
        "select column_name, original_value, rule from cleaned.crm_contacts_value_quarantine"
    ).to_dicts()
    assert issue == [
        {"column_name": "date_of_birth", "original_value": "31/02/1990", "rule": "unparseable_date"}
    ]
    quarantined = warehouse.query(
        "select failed_rules, original_record from cleaned.crm_contacts_quarantine"
    )
    assert quarantined["failed_rules"].to_list() == [
        "invalid_required:updated_at:unparseable_timestamp"
    ]
    assert '"updated_at":"yesterday"' in quarantined["original_record"][0]


def test_negative_and_non_numeric_quantities_quarantine_the_order_line(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    header = "order_id,line_number,customer_id,ordered_at,status,sku,quantity,unit_price,currency"
    land(
        "orders",
        "orders.csv",
        "\n".join(
            [
                header,
                "o1,1,s1,2026-11-02T10:00:00Z,paid,SKU-1,2,9.99,EUR",
                "o1,2,s1,2026-11-02T10:00:00Z,paid,SKU-2,-1,9.99,EUR",
                "o2,1,s2,2026-11-02T10:00:00Z,paid,SKU-1,two,9.99,EUR",
                "o3,1,s3,2099-01-01T10:00:00Z,PAYED,SKU-1,1,9.99,EUR",
            ]
        ),
    )
    result = materialize_day('key:"*/orders"')
    _assert_conserved(result, "orders")
    rules = dict(
        warehouse.query(
            "select json_extract_string(original_record, '$.order_id') || '/' || _row_number,"
            " failed_rules from cleaned.orders_quarantine"
        ).rows()
    )
    assert rules == {
        "o1/2": "quantity_not_positive",
        "o2/3": "invalid_value:quantity:not_an_integer",
        "o3/4": "invalid_value:status:unknown_value; ordered_at_in_future",
    }
    assert warehouse.query("select count(*) as n from cleaned.orders")["n"][0] == 1


def test_unknown_enum_values_quarantine_required_and_null_optional_ones(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land(
        "web_events",
        "web.jsonl",
        '{"event_id": "w1", "occurred_at": 1762077600, "event_type": "hover"}\n'
        '{"event_id": "w2", "occurred_at": 1762077600, "event_type": "Page View",'
        ' "device_type": "fridge"}\n',
    )
    result = materialize_day('key:"*/web_events"')
    _assert_conserved(result, "web_events")
    kept = warehouse.query(
        "select event_id, event_type, device_type from cleaned.web_events"
    ).to_dicts()
    assert kept == [{"event_id": "w2", "event_type": "page_view", "device_type": None}]
    assert warehouse.query("select failed_rules from cleaned.web_events_quarantine")[
        "failed_rules"
    ].to_list() == ["invalid_required:event_type:unknown_value"]
    assert warehouse.query("select rule from cleaned.web_events_value_quarantine")[
        "rule"
    ].to_list() == ["unknown_value"]


def test_duplicate_event_ids_are_kept_once_and_the_repeat_is_recorded(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land("email_events", "a.csv", _email_csv(*GOOD_EMAIL_ROWS, GOOD_EMAIL_ROWS[0]))
    result = materialize_day('key:"*/email_events"')
    _assert_conserved(result, "email_events")
    assert warehouse.query("select count(*) as n from cleaned.email_events")["n"][0] == 2
    superseded = warehouse.query(
        "select record_key, reason, kept_row_number from cleaned.email_events_superseded"
    ).to_dicts()
    assert superseded == [{"record_key": "e1", "reason": "repeated_delivery", "kept_row_number": 1}]


def test_same_file_landed_twice_under_another_name_is_flagged_and_counted_once(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land("email_events", "a.csv", _email_csv(*GOOD_EMAIL_ROWS))
    land("email_events", "a_copy.csv", _email_csv(*GOOD_EMAIL_ROWS))
    result = materialize_day('key:"*/email_events"')
    check = check_results(result)[("raw/email_events", "no_duplicate_files")]
    assert not check.passed
    assert check.metadata["duplicates"].value == [
        f"email_events/{DAY}/a_copy.csv = email_events/{DAY}/a.csv"
    ]
    assert warehouse.query("select count(*) as n from cleaned.email_events")["n"][0] == 2
    _assert_conserved(result, "email_events")


def test_file_for_a_day_before_the_start_date_is_reported_not_loaded(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land("email_events", "old.csv", _email_csv(*GOOD_EMAIL_ROWS), day="2020-01-01")
    result = materialize_day('key:"raw/email_events"')
    check = check_results(result)[("raw/email_events", "landing_folders_in_range")]
    assert not check.passed
    assert any(
        "email_events/2020-01-01: before the first partition" in entry
        for entry in check.metadata["misplaced"].value
    )
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 0


def test_late_file_is_picked_up_on_rematerialization_without_duplicates(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land("email_events", "morning.csv", _email_csv(GOOD_EMAIL_ROWS[0]))
    materialize_day('key:"*/email_events"')
    land("email_events", "evening.csv", _email_csv(GOOD_EMAIL_ROWS[1]))
    materialize_day('key:"*/email_events"')
    result = materialize_day('key:"*/email_events"')
    _assert_conserved(result, "email_events")
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 2
    assert sorted(warehouse.query("select event_id from cleaned.email_events")["event_id"]) == [
        "e1",
        "e2",
    ]
    assert warehouse.query("select count(*) as n from raw.landed_files")["n"][0] == 2


def test_unknown_extra_columns_are_kept_in_raw_and_dropped_after(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    land(
        "email_events",
        "a.csv",
        _email_csv(GOOD_EMAIL_ROWS[0])
        .replace("url\n", "url,ab_variant\n")
        .replace("open,\n", "open,,B\n"),
    )
    materialize_day('key:"*/email_events"')
    extra = warehouse.query("select _extra from raw.email_events")["_extra"][0]
    assert extra == '{"ab_variant":"B"}'
    assert "ab_variant" not in warehouse.query("select * from cleaned.email_events").columns


def test_parquet_file_loads_typed_columns_as_text(
    land: LandFile, materialize_day: MaterializeDay, warehouse
) -> None:
    buffer = io.BytesIO()
    pl.DataFrame(
        {
            "sku": ["SKU-1"],
            "name": ["Mug"],
            "price": [12.5],
            "currency": ["eur"],
            "updated_at": ["2026-11-02T08:00:00+01:00"],
        }
    ).write_parquet(buffer)
    land("products", "catalog.parquet", buffer.getvalue())
    result = materialize_day('key:"*/products"')
    _assert_conserved(result, "products")
    row = warehouse.query(
        "select price::varchar as price, currency, updated_at::varchar as u from cleaned.products"
    ).to_dicts()
    assert row == [{"price": "12.50", "currency": "EUR", "u": "2026-11-02 07:00:00+00"}]
