"""Parsing landing files: the one-pass path and the line-by-line path give the same rows."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from platform_assets.contract import SOURCES
from platform_assets.generator import GeneratorConfig, generate
from platform_assets.raw.parse import FileRejected, parse_landing_file


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parse")
    generate(
        GeneratorConfig(
            landing_dir=root / "landing",
            truth_dir=root / "truth",
            people=120,
            days=4,  # the first email campaign goes out on the third day
            start_date=date(2026, 11, 1),
            progress=False,
        )
    )
    return root / "landing"


def _text(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.mark.parametrize(
    ("source", "pattern", "broken_line"),
    [
        ("email_events", "*.jsonl", b'{"event_id": "broken\n'),
        ("web_events", "*.jsonl.gz", b"[1, 2]\n"),
        ("crm_contacts", "*.csv", b"only,three,fields\n"),
        ("orders", "*.csv", b"o9,1\n"),
        ("consent", "*.csv", b'"quoted, and short"\n'),
        ("shop_customers", "*.csv.gz", b"x\n"),
    ],
)
def test_a_broken_line_changes_nothing_but_itself(
    landing: Path, source: str, pattern: str, broken_line: bytes
) -> None:
    (path,) = sorted((landing / source).rglob(pattern))[:1]
    plain_name = path.name.removesuffix(".gz")
    clean = parse_landing_file(plain_name, _text(path), SOURCES[source])
    with_broken = parse_landing_file(plain_name, _text(path) + broken_line, SOURCES[source])
    assert clean.rows.height > 0 and clean.rejected_lines == []
    assert with_broken.rows.equals(clean.rows)
    assert [line.row_number for line in with_broken.rejected_lines] == [clean.rows.height + 1]


def test_json_numbers_keep_their_integer_text_in_a_mixed_column() -> None:
    contract = SOURCES["email_events"]
    lines = (
        b'{"event_id": 7, "occurred_at": 1762000000, "email": "a@b.com", "event_type": "open"}\n'
        b'{"event_id": 8, "occurred_at": 1762000000.5, "email": "", "event_type": "open"}\n'
    )
    rows = parse_landing_file("e.jsonl", lines, contract).rows
    assert rows["occurred_at"].to_list() == ["1762000000", "1762000000.5"]
    assert rows["event_id"].to_list() == ["7", "8"]
    assert rows["email"].to_list() == ["a@b.com", None]


def test_json_file_without_a_required_key_anywhere_is_rejected() -> None:
    with pytest.raises(FileRejected, match="missing required column"):
        parse_landing_file(
            "e.jsonl", b'{"event_id": "1", "email": "a@b.com"}\n', SOURCES["email_events"]
        )


JSON_LINES = [
    b'{"event_id": "e1", "occurred_at": "2026-11-02T10:00:00Z", "email": "a@b.com",'
    b' "event_type": "open"}',
    b'{"event_id": "e2", "occurred_at": "2026-11-02T11:00:00Z", "email": "c@d.com",'
    b' "event_type": "click", "device": "phone"}',
]


@pytest.mark.parametrize(
    "content",
    [
        b"\n".join(JSON_LINES) + b"\n\n",
        b"\n\n".join(JSON_LINES),
        b"\n  \n".join(JSON_LINES),
        b"\xef\xbb\xbf" + b"\n".join(JSON_LINES),
        b"\r\n".join(JSON_LINES) + b"\r\n",
    ],
    ids=["trailing-blank-line", "blank-line", "whitespace-line", "byte-order-mark", "crlf"],
)
def test_json_lines_read_from_bytes_give_the_rows_of_the_plain_file(content: bytes) -> None:
    contract = SOURCES["email_events"]
    plain = parse_landing_file("e.jsonl", b"\n".join(JSON_LINES), contract)
    parsed = parse_landing_file("e.jsonl", content, contract)
    assert parsed.rows.equals(plain.rows) and parsed.rejected_lines == []
    assert plain.rows["_row_number"].to_list() == [1, 2]
    assert plain.rows["_extra"].to_list() == ['{"device":null}', '{"device":"phone"}']


def test_json_lines_that_are_not_utf8_are_rejected_with_the_line() -> None:
    content = b"\n".join([JSON_LINES[0], JSON_LINES[1].replace(b"c@d", "zoë@d".encode("latin-1"))])
    with pytest.raises(FileRejected, match="not UTF-8: byte 0xeb on line 2"):
        parse_landing_file("e.jsonl", content, SOURCES["email_events"])


def test_a_json_file_of_whitespace_is_empty() -> None:
    parsed = parse_landing_file("e.jsonl", " \n\u00a0\n".encode(), SOURCES["email_events"])
    assert parsed.rows.height == 0 and parsed.notes == ["empty file: no header, no rows"]
