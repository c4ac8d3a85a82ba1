"""Scrubbing an erased person out of landed files: every other byte kept, the person's gone.

The whole-graph test erases a person from a built warehouse; these check the file rewriting on
its own, format by format.
"""

from __future__ import annotations

import gzip
import io
import json

import polars as pl

from platform_assets.contract import SOURCES
from platform_assets.privacy.scrub import scrub_file
from platform_assets.privacy.tombstones import Tombstones, identifier_hash
from platform_assets.raw.parse import parse_landing_file

SALT = "test-salt"
ERASED = Tombstones(
    SALT,
    frozenset(
        {
            identifier_hash(SALT, "email", "erased@example.org"),
            identifier_hash(SALT, "id:shop_customers", "S-9"),
            identifier_hash(SALT, "visitor", "anon-9"),
        }
    ),
)
AT = "2026-11-01T09:00:00Z"
CSV = (
    "customer_id,first_name,email,updated_at\r\n"
    f"S-1,Ann,ann@example.org,{AT}\r\n"
    f'S-9,"Erin, with a\nnewline", other@example.org,{AT}\r\n'  # erased by her shop id
    f"S-2,Bo, Erased@Example.org ,{AT}\r\n"  # erased by her address, however it is written
    f"S-3,Cy,cy@example.org,{AT}\r\n"
)


def test_a_csv_loses_the_persons_records_and_keeps_every_other_byte() -> None:
    kept, removed = scrub_file("shop_customers", "shop.csv", CSV.encode(), ERASED)
    assert removed == 2
    assert kept.decode() == (
        f"customer_id,first_name,email,updated_at\r\nS-1,Ann,ann@example.org,{AT}\r\n"
        f"S-3,Cy,cy@example.org,{AT}\r\n"
    )
    rows = parse_landing_file("shop.csv", kept, SOURCES["shop_customers"]).rows
    assert rows["customer_id"].to_list() == ["S-1", "S-3"]


def test_a_gzip_file_scrubs_to_the_same_bytes_every_time() -> None:
    once, removed = scrub_file("shop_customers", "a.csv.gz", gzip.compress(CSV.encode()), ERASED)
    again, _ = scrub_file("shop_customers", "a.csv.gz", gzip.compress(CSV.encode(), 9), ERASED)
    assert removed == 2 and once == again
    assert b"erased@" not in gzip.decompress(once).lower()


def test_jsonl_lines_go_by_any_identifier_and_broken_lines_by_the_address_in_them() -> None:
    lines = [
        json.dumps({"event_id": "e1", "anonymous_id": "anon-1", "email": None}),
        json.dumps({"event_id": "e2", "anonymous_id": "anon-9", "email": None}),
        '{"event_id": "e3", "email": "erased@example.org", broken',
        json.dumps({"event_id": "e4", "ANONYMOUS_ID": "anon-2", "note": "cc erased@example.org"}),
        "",
    ]
    kept, removed = scrub_file("web_events", "w.jsonl", "\n".join(lines).encode(), ERASED)
    assert removed == 3
    assert kept.decode() == lines[0] + "\n"


def test_a_parquet_file_is_filtered_and_written_again() -> None:
    frame = pl.DataFrame({"subject_email": ["a@example.org", "erased@example.org"], "n": [1, 2]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    kept, removed = scrub_file("consent", "c.parquet", buffer.getvalue(), ERASED)
    assert removed == 1
    assert pl.read_parquet(io.BytesIO(kept))["n"].to_list() == [1]


def test_a_file_without_the_person_is_returned_as_it_was() -> None:
    content = b"customer_id,email\nS-1,ann@example.org\n"
    assert scrub_file("shop_customers", "s.csv", content, ERASED) == (content, 0)
    assert scrub_file("shop_customers", "s.csv", content, Tombstones("", frozenset())) == (
        content,
        0,
    )


def test_an_unreadable_file_naming_the_person_is_emptied_and_one_that_does_not_is_kept() -> None:
    naming = b"\xff\xfe not utf-8, erased@example.org"
    assert scrub_file("consent", "c.csv", naming, ERASED) == (b"", 1)
    other = b"\xff\xfe not utf-8, someone@example.org"
    assert scrub_file("consent", "c.csv", other, ERASED) == (other, 0)


def test_tombstones_hold_salted_hashes_never_the_values() -> None:
    assert identifier_hash(SALT, "email", " Erased@Example.org ") == identifier_hash(
        SALT, "email", "erased@example.org"
    )
    assert identifier_hash("another-salt", "email", "erased@example.org") not in ERASED.hashes
    assert not any("erased" in value for value in ERASED.hashes)
