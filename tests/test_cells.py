"""A platform sheet's messy cells: dates, phones and text as they come (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.domain.core.privacy import normalise_phone
from server.domain.intake import cells
from server.domain.intake.cells import CellError

EIGHT_PM = datetime(2025, 5, 16, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
MIDNIGHT = datetime(2025, 5, 15, 16, 0, tzinfo=UTC)  # 2025-05-16 00:00 in Shanghai


@pytest.mark.parametrize(("raw", "expected"), [
    (datetime(2025, 5, 16, 20, 0), EIGHT_PM),
    (date(2025, 5, 16), MIDNIGHT),
    (45793.8333333333, EIGHT_PM),
    (45793, MIDNIGHT),
    ("45793.83333333334", EIGHT_PM),
    ("2025/5/16 20:00", EIGHT_PM),
    ("2025/05/16 20:00:05", EIGHT_PM.replace(second=5)),
    ("2025-05-16", MIDNIGHT),
    ("2025-05-16 20:00", EIGHT_PM),
    ("2025年5月16日", MIDNIGHT),
    ("2025年5月16日 20时00分", EIGHT_PM),
    ("2025年5月16日20时", EIGHT_PM),
    ("2025.5.16", MIDNIGHT),
    ("20250516", MIDNIGHT),
    (20250516, MIDNIGHT),
    (20250516.0, MIDNIGHT),
    ("20250516200000", EIGHT_PM),
    ("２０２５/５/１６　２０：００", EIGHT_PM),
    ("  2025-05-16 20:00 ", EIGHT_PM),
    ("2025-05-16T20:00:00+08:00", EIGHT_PM),
])
def test_dates_in_every_form_a_platform_writes(raw: object, expected: datetime) -> None:
    got = cells.when(raw)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize("raw", ["明天", "2025/2/30", "2025/13/1", "16/5/2025 x", "", None,
                                 True, "2025-05-16 25:00", 0.5])
def test_what_is_not_a_date(raw: object) -> None:
    with pytest.raises(CellError) as caught:
        cells.when(raw)
    assert caught.value.code == "import.bad_date"


def _local_text(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("raw", ["1999-12-31 23:59", "2999-01-01", 36525.0,
                                 _local_text(datetime.now(UTC) + timedelta(days=1, hours=1))])
def test_dates_out_of_range(raw: object) -> None:
    with pytest.raises(CellError) as caught:
        cells.when(raw)
    assert caught.value.code == "import.date_out_of_range"


def test_a_platform_clock_a_little_ahead_is_fine() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=100)
    assert cells.when(_local_text(soon)) <= soon
    assert cells.when("2000-01-01 08:00") == datetime(2000, 1, 1, tzinfo=UTC)


def test_the_office_forms_rule_for_the_future() -> None:
    # As ReceivedAt has it (CLOCK_DRIFT_S): 20 hours ahead is a typo, not a clock's drift.
    with pytest.raises(CellError) as caught:
        cells.when(_local_text(datetime.now(UTC) + timedelta(hours=20)))
    assert caught.value.code == "import.date_out_of_range"


@pytest.mark.parametrize("raw", ["0001-01-01", "0001-01-01 00:00", datetime(1, 1, 1),
                                 datetime(9999, 12, 31, 23, 59), "9999-12-31"])
def test_a_date_at_the_ends_of_the_calendar_is_out_of_range(raw: object) -> None:
    # Converting year 1 (or 9999) to UTC overflows: the row's error, not the sheet's.
    with pytest.raises(CellError) as caught:
        cells.when(raw)
    assert caught.value.code == "import.date_out_of_range"


@pytest.mark.parametrize("raw", ["desc\x01\u202eevil", "张\x00三", "a\u2066b", "a\x1bb"])
def test_text_that_cannot_be_stored_is_a_cell_error(raw: str) -> None:
    with pytest.raises(CellError) as caught:
        cells.text(raw)
    assert caught.value.code == "import.bad_text"


def test_tabs_and_line_breaks_inside_text_are_kept() -> None:
    assert cells.text("第一行\n第二行\t完") == "第一行\n第二行\t完"


def test_another_time_zone() -> None:
    assert cells.when("2025-05-16 20:00", tz="UTC") == datetime(2025, 5, 16, 20, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    (13812345678, "13812345678"),
    (13812345678.0, "13812345678"),
    (1.3812345678e10, "13812345678"),
    ("1.3812345678E10", "13812345678"),
    ("13812345678", "13812345678"),
    (" 138 1234 5678 ", "13812345678"),
    ("138-1234-5678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("0086-13812345678", "13812345678"),
    ("１３８１２３４５６７８", "13812345678"),
    ("(0571)88886666", "057188886666"),
    ("0571-88886666", "057188886666"),
    ("0571-88886666转123", "057188886666转123"),
    ("0571-88886666 转 8", "057188886666转8"),
    ("13812345678.0", "13812345678"),
    ("138.1234.5678", "13812345678"),
    ("\u300013812345678\u00a0", "13812345678"),
    (None, None),
    ("", None),
    ("   ", None),
])
def test_phones_as_numbers_and_as_text(raw: object, expected: str | None) -> None:
    got = cells.phone(raw)
    assert got == expected
    # The digest's rule reads the same digits out of it (one normalisation, not two).
    if isinstance(raw, str) and got is not None and "E" not in raw and ".0" not in raw:
        assert normalise_phone(raw) == normalise_phone(got)


@pytest.mark.parametrize("raw", ["138abc12345", "电话13812345678", "1.38123E+10", True,
                                 "13812345678.5", 1381234.5, "12", "=1+1"])
def test_what_is_not_a_phone(raw: object) -> None:
    with pytest.raises(CellError) as caught:
        cells.phone(raw)
    assert caught.value.code == "import.bad_phone"


@pytest.mark.parametrize(("raw", "expected"), [
    (None, ""),
    ("  城中区　", "城中区"),
    ("\u00a0化工厂\u00a0", "化工厂"),
    ("ＫＴＶ噪音１２３", "KTV噪音123"),
    ("Ａ　Ｂ", "A B"),
    ("夜间，施工。（严重）", "夜间，施工。（严重）"),  # Chinese punctuation is writing
    (13800138000.0, "13800138000"),
    (13800138000, "13800138000"),
    (1.5, "1.5"),
    (date(2025, 5, 16), "2025-05-16"),
    (datetime(2025, 5, 16, 20, 0), "2025-05-16 20:00"),
])
def test_text(raw: object, expected: str) -> None:
    assert cells.text(raw) == expected


@pytest.mark.parametrize("raw", ['=HYPERLINK("http://evil","点我")', "+cmd|' /C calc'!A0",
                                 "-2+3", "@SUM(A1)", "\t=1+1", "=ＡＢＣ"])
def test_formula_looking_text_is_kept_exactly(raw: str) -> None:
    assert cells.text(raw) == raw
    assert cells.text("  " + raw + "  ") == raw if not raw.startswith("\t") else True
    assert cells.looks_like_formula(raw)


def test_text_length() -> None:
    assert cells.text("ab", max_len=2) == "ab"
    with pytest.raises(CellError) as caught:
        cells.text("abc", max_len=2)
    assert caught.value.code == "import.too_long"


# ---- whatever a cell holds: a CellError or a value, never another exception -------------

CELL = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                 st.text(), st.dates(), st.datetimes(),
                 st.text(alphabet="0123456789０１２３４５６７８９/-.:年月日时分 　+()转Ee",
                         max_size=30))


@given(CELL)
@example(10**400)  # no float holds it
@example(float("inf"))
@settings(max_examples=400, deadline=None)
def test_any_cell_is_a_value_or_a_cell_error(value: object) -> None:
    for parse in (cells.when, cells.phone):
        try:
            got = parse(value)
        except CellError as exc:
            assert exc.code.startswith("import.")
            continue
        if parse is cells.when:
            assert got.tzinfo is UTC
        elif got is not None:
            assert got.replace("转", "").isdigit()
    try:
        out = cells.text(value)
    except CellError as exc:
        assert exc.code == "import.bad_text"
        return
    assert cells.text(out) == out  # cleaning twice changes nothing


@given(st.sampled_from(["=", "+", "-", "@", "\t"]), st.text(), st.sampled_from(
    ["", " ", "\u3000", "\u200b", "\u00a0 "]))
@settings(max_examples=300, deadline=None)
def test_formula_looking_text_is_never_altered_inside(start: str, rest: str, edge: str) -> None:
    raw = edge + start + rest
    try:
        out = cells.text(raw)
    except CellError as exc:
        assert exc.code == "import.bad_text"  # a control or bidi character in `rest`
        return
    if out and cells.looks_like_formula(out):
        assert out in raw  # only outer characters went
