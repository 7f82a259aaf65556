"""Formula injection never comes back out: text that looks like a formula (imported from a
platform's sheet, or typed) is stored as text and every export writes it as text."""

from __future__ import annotations

import ast
import io
import uuid
import zipfile
from pathlib import Path

import openpyxl
import sqlalchemy as sa

from server.domain.core.text import csv_cell, looks_like_formula
from server.extensions import db
from server.models import Case
from server.reports.xlsx import Sheet, write_xlsx
from tests.test_revisit_sampling import PERIOD, seed_cases

EVIL = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
SERVER = Path(__file__).parents[1] / "server"


def test_the_rule() -> None:
    for text in EVIL:
        assert looks_like_formula(text)
        assert csv_cell(text) == "'" + text
    for text in ("噪音", "13812345678", " =1", "（=1）", ""):
        assert not looks_like_formula(text)
        assert csv_cell(text) == text


def test_subjects_that_look_like_formulas_export_as_text(app, as_user) -> None:
    ids = seed_cases(2, 0)
    for case_id, subject in zip(ids, EVIL[:2], strict=True):
        # As an import stores them: the subject, and the platform's reference, as text.
        db.session.execute(sa.update(Case).where(Case.id == case_id).values(
            subject=subject, intake_source="hotline_12345", external_ref="=" + case_id[:8]))
    db.session.commit()
    office, revisit = as_user("reviewer"), as_user("revisit")
    drawn = office.post("/api/revisit-samples", json={
        **PERIOD, "share": 1.0, "strata": ["unit"], "seed": "formula"})
    assert drawn.status_code == 201, drawn.get_json()
    for case_id in ids:  # the export lists the sample's revisits
        done = revisit.post(f"/api/cases/{case_id}/revisits", json={
            "client_id": str(uuid.uuid4()), "at": "2026-11-28T19:30:00+08:00",
            "method": "door"})
        assert done.status_code == 201, done.get_json()
    got = office.get(f"/api/revisit-samples/{drawn.get_json()['id']}/export.xlsx")
    assert got.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(got.data)).worksheets[0]
    found = {c.value: c.data_type for row in ws.iter_rows(min_row=3) for c in row
             if isinstance(c.value, str) and looks_like_formula(c.value)}
    assert found == {EVIL[0]: "s", EVIL[1]: "s", **{"=" + i[:8]: "s" for i in ids}}
    with zipfile.ZipFile(io.BytesIO(got.data)) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_the_xlsx_writer_writes_every_kind_of_formula_text_as_text() -> None:
    out = io.BytesIO()
    write_xlsx(Sheet(name="t", title="=1+1", headings=["=A1", "+b"],
                     rows=[[text, text] for text in EVIL]), out)
    ws = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert len(cells) == 1 + 2 + 2 * len(EVIL)
    assert all(c.data_type == "s" for c in cells)
    # (XML turns a lone carriage return into a line feed: the text stays text.)
    assert {c.value for c in cells} >= set(EVIL) - {"\r=1+1"}


def test_no_export_in_the_server_can_write_a_formula() -> None:
    """Every XlsxWriter workbook the server opens turns off strings_to_formulas and writes
    with typed calls (write_string ...), never write() nor write_formula(); a CSV writer
    passes its text through core.text.csv_cell; openpyxl is not used to write."""
    problems = []
    for path in SERVER.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            if name == "Workbook" and "strings_to_formulas\": False" not in source:
                problems.append(f"{path}: Workbook without strings_to_formulas False")
            if name in ("write", "write_row", "write_column", "write_formula",
                        "write_array_formula") and "xlsxwriter" in source:
                problems.append(f"{path}:{node.lineno}: {name}() may write a formula")
            if name in ("writer", "DictWriter") and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "csv" and "csv_cell" not in source:
                problems.append(f"{path}:{node.lineno}: a CSV export without csv_cell")
        if "openpyxl" in source:
            problems.append(f"{path}: openpyxl in the server (writes formulas from text)")
    assert not problems, problems
