"""Bulk import of guides from CSV (a store's staff list from HR), all or nothing.

Columns (a header row is required, order free): ``code,name,store,wecom_userid`` and optional
``photo_url,daily_cap,backup``. Every row is checked before anything is written; one bad row
and nothing is created, and the report names each bad row by its line number, so the file can
be fixed and sent again. A row for a guide that exists already with the same store and WeCom
member is ``unchanged``, which makes sending the same file twice harmless.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from guides.models import Guide, Store
from guides.schemas import GuideIn, InvalidInput, parse
from guides.service import create_guide

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

REQUIRED = ("code", "name", "store", "wecom_userid")
OPTIONAL = ("photo_url", "daily_cap", "backup")
MAX_ROWS = 5000
TRUE, FALSE = {"1", "true", "yes", "y", "是"}, {"", "0", "false", "no", "n", "否"}


@dataclass(frozen=True)
class RowError:
    row: int  # the line number in the file (the header is line 1)
    code: str | None
    field: str
    message: str


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def import_guides(*, runtime: Runtime, db_session: Session, text: str) -> ImportReport:
    report = ImportReport()
    rows = _rows(text.lstrip("\ufeff"), report)
    if report.errors:
        return report
    checked = _check(db_session, rows, report)
    if report.errors:
        return report
    for guide_in in checked:
        create_guide(runtime=runtime, db_session=db_session, guide_in=guide_in)
        report.created.append(guide_in.code)
    return report


def _rows(text: str, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    # newline="": the csv module reads \r, \n and \r\n line ends itself (a lone \r otherwise
    # breaks it: "new-line character seen in unquoted field").
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read_rows(reader, report)
    except csv.Error as exc:  # a field over csv's size limit, a NUL, …: a bad file, not a crash
        report.errors.append(RowError(reader.line_num or 1, None, "file", f"not a readable CSV file: {exc}"))
        return []


def _read_rows(reader: csv.DictReader, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown:
        what = f"missing columns {', '.join(missing)}" if missing else f"unknown columns {', '.join(unknown)}"
        report.errors.append(RowError(1, None, "header", f"{what}; columns: {', '.join(REQUIRED + OPTIONAL)}"))
        return []
    reader.fieldnames = header
    rows = []
    for values in reader:
        if len(rows) >= MAX_ROWS:
            report.errors.append(RowError(reader.line_num, None, "file", f"at most {MAX_ROWS} guides a file"))
            return []
        if None in values:
            report.errors.append(RowError(reader.line_num, values.get("code"), "row", "more values than columns"))
            continue
        if any((v or "").strip() for v in values.values()):
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in values.items()}))
    if not rows and not report.errors:
        report.errors.append(RowError(1, None, "file", "no guides in the file"))
    return rows


def _check(db_session: Session, rows: list[tuple[int, dict[str, str]]], report: ImportReport) -> list[GuideIn]:
    stores = {code: store_id for code, store_id in db_session.execute(select(Store.code, Store.id))}
    existing = {g.code: g for g in db_session.scalars(select(Guide))}
    members = {g.wecom_userid: g.code for g in existing.values()}
    seen_codes: dict[str, int] = {}
    seen_members: dict[str, int] = {}
    checked = []
    for line, values in rows:
        code = values.get("code") or None
        try:
            guide_in = parse(GuideIn, _typed(values))
        except InvalidInput as exc:
            report.errors.extend(RowError(line, code, e["field"], e["message"]) for e in exc.errors)
            continue
        problem = _conflict(guide_in, stores, existing, members, seen_codes, seen_members)
        if problem == "unchanged":
            report.unchanged.append(guide_in.code)
        elif problem:
            report.errors.append(RowError(line, code, *problem))
        else:
            checked.append(guide_in)
        seen_codes[guide_in.code], seen_members[guide_in.wecom_userid] = line, line
    return checked


def _conflict(guide_in, stores, existing, members, seen_codes, seen_members):  # noqa: ANN001, ANN202
    if guide_in.store not in stores:
        return "store", f"no store {guide_in.store}; create it first"
    if guide_in.code in seen_codes:
        return "code", f"code {guide_in.code} is on line {seen_codes[guide_in.code]} too"
    if guide_in.wecom_userid in seen_members:
        return "wecom_userid", f"WeCom member {guide_in.wecom_userid} is on line {seen_members[guide_in.wecom_userid]} too"
    found = existing.get(guide_in.code)
    if found is not None:
        if found.store_id == stores[guide_in.store] and found.wecom_userid == guide_in.wecom_userid:
            return "unchanged"
        return "code", f"guide {guide_in.code} exists already with another store or WeCom member"
    if guide_in.wecom_userid in members:
        return "wecom_userid", f"WeCom member {guide_in.wecom_userid} is guide {members[guide_in.wecom_userid]} already"
    return None


def _typed(values: dict[str, str]) -> dict[str, object]:
    """CSV cells are text: empty optional cells are absent, numbers and yes/no are converted
    (a cell that is neither stays text, so validation names it)."""
    data: dict[str, object] = {k: values.get(k, "") for k in REQUIRED}
    if values.get("photo_url"):
        data["photo_url"] = values["photo_url"]
    cap = values.get("daily_cap", "")
    if cap:
        data["daily_cap"] = int(cap) if cap.isascii() and cap.isdigit() else cap
    backup = values.get("backup", "").lower()
    if backup:
        data["backup"] = True if backup in TRUE else False if backup in FALSE else backup
    return data
