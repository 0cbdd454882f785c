"""Joining (入会, SPEC §13): a customer proves a phone number with an SMS code, then becomes a
member with it (scrm/flows.py ``join_member`` does the joining and the merge by phone).

- :func:`china_mobile` reads a phone number as tagging/schemas.py does (separators and +86
  dropped, digits only) and accepts a China mobile number only (``1[3-9]`` + 9 digits).
- :func:`new_code` stores a fresh 6-digit code for (customer, phone): only its HMAC (keyed by
  ``security.secret_key``) is kept, valid ``members.sms.code_minutes``. The caller commits,
  then sends it (:class:`~scrm.members.sms.SmsSender`) outside any transaction, and calls
  :func:`discard_code` in a new one when the send was refused.
- :func:`check_code` tries a code against the customer's latest one for that phone: at most
  :data:`MAX_TRIES` tries (counted by one atomic UPDATE, so concurrent guesses cannot take
  more), refused once expired or used. It returns a :class:`CodeCheck` rather than raising,
  so that the caller commits the spent try before refusing.

How often codes may be asked for (per phone, per IP) is the web layer's: scrm/web/limits.py.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.clock import as_utc
from scrm.errors import ConflictError, InvalidInput
from scrm.members.models import Member, SmsCode
from scrm.members.service import PhoneTaken

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

PURPOSE = "join"
CODE_DIGITS = 6
MAX_TRIES = 5
_SEPARATORS = re.compile(r"[\s\-().]")
_CHINA_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CODE = re.compile(r"[0-9]{6}")


class InvalidPhone(InvalidInput):
    """Not a China mobile number (422, field ``phone``)."""

    def __init__(self) -> None:
        super().__init__("phone", "must be a China mobile number: 11 digits starting 13-19, optionally +86 first")


class AlreadyMember(ConflictError):
    """The customer has joined already (409 ``already_member``)."""

    code = "already_member"


def china_mobile(raw: object) -> str:
    """``raw`` as 11 digits, or :class:`InvalidPhone`."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise InvalidPhone()
    phone = _SEPARATORS.sub("", raw).removeprefix("+86").removeprefix("0086")
    if not _CHINA_MOBILE.fullmatch(phone):
        raise InvalidPhone()
    return phone


def is_code(raw: object) -> bool:
    """Six digits: anything else is not even tried (and costs no try)."""
    return isinstance(raw, str) and _CODE.fullmatch(raw.strip()) is not None


@dataclass(frozen=True)
class CodeIssued:
    id: int
    phone: str
    code: str  # to send, never to store or log
    expires_at: datetime


@dataclass(frozen=True)
class CodeCheck:
    """What trying a code came to: ``ok``, or the reason it was refused (``no_code``,
    ``expired``, ``wrong``, ``too_many_tries``) with the tries left after a wrong one."""

    ok: bool
    reason: str | None = None
    tries_left: int = 0


def new_code(*, db_session: Session, config: Config, customer_id: int, phone: str, at: datetime) -> CodeIssued:
    """A fresh code for ``customer_id`` to prove ``phone``; earlier unused ones stop working.
    :class:`AlreadyMember` or :class:`PhoneTaken` before anything is sent."""
    if db_session.get(Member, customer_id) is not None:
        raise AlreadyMember(f"customer {customer_id} is a member already")
    holder = db_session.scalar(select(Member.customer_id).where(Member.phone == phone))
    if holder is not None:
        raise PhoneTaken("another member has this phone number")
    at = as_utc(at)
    db_session.execute(update(SmsCode).where(SmsCode.phone == phone, SmsCode.customer_id == customer_id,
                                             SmsCode.purpose == PURPOSE, SmsCode.used_at.is_(None))
                       .values(expires_at=at))
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    expires_at = at + timedelta(minutes=config.members.sms.code_minutes)
    row = SmsCode(phone=phone, purpose=PURPOSE, code_hash=_hash(config, phone, code), customer_id=customer_id,
                  attempts=0, created_at=at, expires_at=expires_at)
    db_session.add(row)
    db_session.flush()
    return CodeIssued(row.id, phone, code, expires_at)


def discard_code(*, db_session: Session, code_id: int, at: datetime) -> None:
    """The code could not be sent: it stops working."""
    db_session.execute(update(SmsCode).where(SmsCode.id == code_id).values(expires_at=as_utc(at)))


def check_code(*, db_session: Session, config: Config, customer_id: int, phone: str, code: str,
               at: datetime) -> CodeCheck:
    """Try ``code`` against the latest code sent to ``phone`` for ``customer_id``; a right one
    is used up (it proves the phone once)."""
    at = as_utc(at)
    latest = db_session.scalar(
        select(SmsCode).where(SmsCode.phone == phone, SmsCode.customer_id == customer_id, SmsCode.purpose == PURPOSE)
        .order_by(SmsCode.id.desc()).limit(1))
    if latest is None or latest.used_at is not None:
        return CodeCheck(False, "no_code")
    if as_utc(latest.expires_at) <= at:
        return CodeCheck(False, "expired")
    if not is_code(code):  # not a code at all: refused without spending a try
        left = MAX_TRIES - latest.attempts
        return CodeCheck(False, "wrong" if left > 0 else "too_many_tries", max(left, 0))
    tried = db_session.execute(
        update(SmsCode).where(SmsCode.id == latest.id, SmsCode.attempts < MAX_TRIES, SmsCode.used_at.is_(None))
        .values(attempts=SmsCode.attempts + 1).returning(SmsCode.attempts)
    ).scalar_one_or_none()
    if tried is None:
        return CodeCheck(False, "too_many_tries")
    if not hmac.compare_digest(latest.code_hash, _hash(config, phone, code.strip())):
        left = MAX_TRIES - tried
        return CodeCheck(False, "wrong" if left > 0 else "too_many_tries", left)
    used = db_session.execute(update(SmsCode).where(SmsCode.id == latest.id, SmsCode.used_at.is_(None))
                              .values(used_at=at).returning(SmsCode.id)).scalar_one_or_none()
    return CodeCheck(True) if used is not None else CodeCheck(False, "no_code")


def _hash(config: Config, phone: str, code: str) -> str:
    key = hashlib.sha256(f"sms-code:{config.secret_key}".encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()
