"""The sandbox's WeChat world, kept in the database (SPEC §10): it survives a restart exactly
as the product's own data does. Redis keeps only what is ephemeral (access tokens, the call
log, faults, welcome and sign-in codes, locks).

Times are kept as WeChat gives them (epoch seconds, or epoch ms where the sandbox counts
windows), so the answers the APIs build from them stay byte for byte what they were.
Shapes WeChat answers as a whole (a group chat with its member list, a QR code, a contact way,
a mass-message task, the corp tag tree, a customer made on the phone page) are kept as one JSON
document each in ``sandbox_documents``, keyed by kind and id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base


class SandboxFollower(Base):
    """An MP follower (粉丝); ``last_message_at`` (ms) opens the 48 h window, ``replies`` counts
    the customer-service messages sent in it."""

    __tablename__ = "sandbox_followers"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    subscribe: Mapped[int] = mapped_column(SmallInteger)
    subscribe_time: Mapped[int | None] = mapped_column(BigInteger)
    nickname: Mapped[str | None] = mapped_column(Text)
    unionid: Mapped[str | None] = mapped_column(String(128))
    last_message_at: Mapped[int | None] = mapped_column(BigInteger)
    replies: Mapped[int] = mapped_column(Integer, default=0)


class SandboxMpTag(Base):
    __tablename__ = "sandbox_mp_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))


class SandboxFollowerTag(Base):
    __tablename__ = "sandbox_follower_tags"
    __table_args__ = (Index("ix_sandbox_follower_tags_tag_id", "tag_id"),)

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class SandboxMember(Base):
    """A WeCom member (成员), a guide usually."""

    __tablename__ = "sandbox_members"

    userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    department: Mapped[list[int]] = mapped_column(JSON)
    position: Mapped[str] = mapped_column(Text, default="")


class SandboxCustomer(Base):
    """A WeCom customer (外部联系人); ``transfers`` are the epoch ms of in-service transfers."""

    __tablename__ = "sandbox_customers"

    external_userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    unionid: Mapped[str | None] = mapped_column(String(128))
    transfers: Mapped[list[int]] = mapped_column(JSON, default=list)


class SandboxRelation(Base):
    """A member a customer added: WeCom's ``follow_user`` entry (remark, createtime, state, add_way)."""

    __tablename__ = "sandbox_relations"

    external_userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    relation: Mapped[dict[str, Any]] = mapped_column(JSON)


class SandboxRelationTag(Base):
    """A corp tag (企业标签) on one member–customer pair."""

    __tablename__ = "sandbox_relation_tags"

    external_userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class SandboxMessage(Base):
    """What a customer received (``mp``: an openid's, ``work``: an external_userid's) or, on
    ``phone``, what the phone page showed an openid; oldest first by id."""

    __tablename__ = "sandbox_messages"
    __table_args__ = (Index("ix_sandbox_messages_channel_recipient", "channel", "recipient", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class SandboxDocument(Base):
    """One JSON document of the world by kind and key (see the module's docstring)."""

    __tablename__ = "sandbox_documents"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    doc: Mapped[Any] = mapped_column(JSON)


class SandboxCounter(Base):
    """Ids the sandbox hands out in order: MP tag ids, message ids."""

    __tablename__ = "sandbox_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
