"""Documents made from a case's stored facts: the closure file (DOCX, PDF), its QR codes,
and the archive ZIP. No Flask, no database: data in, bytes out."""

from server.reports.archive import ArchiveEntry, archive_readme, write_archive
from server.reports.closure_file import render_docx
from server.reports.closure_pdf import render_pdf
from server.reports.packet import CaseSection, ClosurePacket, PhotoEntry
from server.reports.qr import qr_png, qr_svg

__all__ = [
    "ArchiveEntry",
    "CaseSection",
    "ClosurePacket",
    "PhotoEntry",
    "archive_readme",
    "qr_png",
    "qr_svg",
    "render_docx",
    "render_pdf",
    "write_archive",
]
