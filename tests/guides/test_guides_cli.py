"""``scrm stores …`` and ``scrm guides …`` (SPEC §6): the same rules as the API, from a terminal."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from guide_world import create_guide, create_store, mp_scan, openid, work_add
from guides.models import Binding, Guide, GuideTransfer, Store
from qrcodes.models import ChannelCode
from scrm.cli import main
from scrm.customers.models import CustomerIdentity
from scrm.sandbox import state, world
from platform_world import count

GOOD_CSV = "code,name,store,wecom_userid\nG1,王小美,S1,member-g1\nG2,李大力,S1,member-g2\n"


@pytest.fixture
def cli(runtime):  # noqa: ANN001, ANN201
    """Run ``scrm`` with the test runtime (as ``_runtime(ctx)`` would have built it)."""
    runner = CliRunner()

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(main, list(args), obj={"config": runtime.config, "runtime": runtime}, catch_exceptions=False)

    return run


def statuses(runtime) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return sorted(db_session.execute(select(ChannelCode.kind, ChannelCode.channel, ChannelCode.status)).all())


def test_stores_add_and_guides_add_create_them_and_their_codes(cli, runtime):
    result = cli("stores", "add", "S1", "上海静安店", "--address", "南京西路 1 号")
    assert result.exit_code == 0, result.output
    assert "store S1 added" in result.output
    world.add_member(runtime.redis, "member-g1", "王小美")
    result = cli("guides", "add", "G1", "--name", "王小美", "--store", "S1", "--wecom-userid", "member-g1")
    assert result.exit_code == 0, result.output
    assert "guide G1 added to store S1" in result.output

    runtime.queue.run_pending()  # a real Redis: the worker's part
    with runtime.transaction() as db_session:
        store = db_session.scalar(select(Store))
        guide = db_session.scalar(select(Guide))
        assert (store.code, store.name, store.address) == ("S1", "上海静安店", "南京西路 1 号")
        assert (guide.code, guide.name, guide.store_id, guide.wecom_userid) == ("G1", "王小美", store.id, "member-g1")
    assert statuses(runtime) == [("guide", "mp", "ready"), ("guide", "work", "ready"),
                                 ("store", "mp", "ready"), ("store", "work", "ready")]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_with_an_in_process_queue_the_command_runs_the_jobs_it_queued(cli, runtime):
    assert runtime.config.redis.url.startswith("memory://")
    assert cli("stores", "add", "S1", "上海静安店").exit_code == 0
    assert statuses(runtime) == [("store", "mp", "ready")]


@pytest.mark.parametrize(("args", "message"), [
    (("stores", "add", "S 1", "店"), "code"),
    (("guides", "add", "G1", "--name", "小美", "--store", "NOPE", "--wecom-userid", "member-g1"), "no store NOPE"),
    (("guides", "add", "G 1", "--name", "小美", "--store", "S1", "--wecom-userid", "member-g1"), "code"),
])
def test_bad_input_is_a_clean_error_and_creates_nothing(cli, runtime, args, message):
    create_store(runtime)
    result = cli(*args)
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert (count(runtime, Store), count(runtime, Guide)) == (1, 0)


def test_a_store_code_taken_already_is_refused(cli, runtime):
    create_store(runtime)
    result = cli("stores", "add", "S1", "又一家")
    assert result.exit_code == 1 and "exists already" in result.output
    assert count(runtime, Store) == 1


def test_guides_list_shows_each_guide_with_their_customers(cli, runtime, client):
    create_store(runtime)
    create_store(runtime, "S2", "北京三里屯店")
    g1 = create_guide(runtime, "G1", name="王小美")
    create_guide(runtime, "G2", name="李大力", store="S2")
    mp_scan(runtime, client, openid(), g1.mp_scene)

    result = cli("guides", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["G1", "王小美", "S1", "member-g1", "active", "1", "customers"],
        ["G2", "李大力", "S2", "member-g2", "active", "0", "customers"],
    ]
    assert "2 guide(s)" in result.stderr

    only_s2 = cli("guides", "list", "--store", "S2")
    assert [line.split()[0] for line in only_s2.stdout.splitlines()] == ["G2"]
    unknown = cli("guides", "list", "--store", "NOPE")
    assert unknown.exit_code == 1 and "no store NOPE" in unknown.output


def test_guides_import_creates_the_guides_and_again_changes_nothing(cli, runtime, tmp_path):
    create_store(runtime)
    for userid in ("member-g1", "member-g2"):
        world.add_member(runtime.redis, userid, userid)
    path = tmp_path / "guides.csv"
    path.write_text("\ufeff" + GOOD_CSV, encoding="utf-8")

    result = cli("guides", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "2 guide(s) created, 0 unchanged" in result.output
    runtime.queue.run_pending()
    with runtime.transaction() as db_session:
        assert list(db_session.scalars(select(Guide.code).order_by(Guide.code))) == ["G1", "G2"]
    assert [s for s in statuses(runtime) if s[0] == "guide"] == [("guide", "mp", "ready")] * 2 + [("guide", "work", "ready")] * 2

    again = cli("guides", "import", str(path))
    assert again.exit_code == 0 and "0 guide(s) created, 2 unchanged" in again.output
    assert count(runtime, Guide) == 2


def test_guides_import_of_a_bad_file_prints_each_line_and_creates_nothing(cli, runtime, tmp_path):
    create_store(runtime)
    path = tmp_path / "guides.csv"
    path.write_text(GOOD_CSV + "G3,新人,S9,member-g3\nG1,重名,S1,member-g4\nG5,新人,S1,member-g5\n", encoding="utf-8")

    result = cli("guides", "import", str(path))
    assert result.exit_code == 1
    assert "line 4: G3: store: no store S9" in result.stderr
    assert "line 5: G1: code: code G1 is on line 2 too" in result.stderr
    assert "2 problem(s); nothing was imported" in result.stderr
    assert [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("line ")] == ["line 4", "line 5"]
    assert (count(runtime, Guide), count(runtime, ChannelCode)) == (0, 1)
    assert runtime.queue.run_pending() == 0


def test_guides_leave_moves_the_customers_and_prints_the_counts(cli, runtime, client):
    create_store(runtime)
    g1, g2 = create_guide(runtime, "G1"), create_guide(runtime, "G2")
    fan = openid()
    mp_scan(runtime, client, fan, g1.mp_scene)
    work_add(runtime, client, "wm-contact-1", g1.wecom_userid, g1.work_scene)
    runtime.queue.run_pending()

    result = cli("guides", "leave", "G1", "--to", "G2")
    assert result.exit_code == 0, result.output
    assert "guide G1 left: 2 customer(s) moved to G2, 1 queued for WeCom's hand-over" in result.output
    runtime.queue.run_pending()

    with runtime.transaction() as db_session:
        rows = db_session.execute(select(Binding.customer_id, Binding.guide_id, Binding.end_reason)
                                  .order_by(Binding.customer_id, Binding.id)).all()
        customers = {db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == e))
                     for e in (fan, "wm-contact-1")}
        transfer = db_session.scalar(select(GuideTransfer))
        assert db_session.scalar(select(Guide.status).where(Guide.code == "G1")) == "left"
    # History kept: each customer's binding to G1 ended "transferred", a new one with G2.
    assert sorted(rows) == sorted([(c, g1.id, "transferred") for c in customers] + [(c, g2.id, None) for c in customers])
    assert (transfer.external_userid, transfer.status) == ("wm-contact-1", "done")
    [call] = state.list_calls(runtime.redis, channel="work", api="externalcontact/transfer_customer")
    assert call["body"]["handover_userid"] == "member-g1" and call["body"]["takeover_userid"] == "member-g2"
    assert call["body"]["external_userid"] == ["wm-contact-1"]

    again = cli("guides", "leave", "G1", "--to", "G2")
    assert again.exit_code == 1 and "left already" in again.output


def test_guides_login_link_prints_a_link_that_signs_the_guide_in_once(cli, runtime, client):
    create_store(runtime)
    create_guide(runtime, "G1")

    result = cli("guides", "login-link", "G1")
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith(runtime.config.server.public_base_url + "/m/login?t=")

    parts = urlsplit(link)
    first = client.get(f"{parts.path}?{parts.query}")
    assert first.status_code == 302
    assert client.application.test_client().get(f"{parts.path}?{parts.query}").status_code == 403  # used already
    again = client.get(f"{parts.path}?{parts.query}")  # the guide signed in with it, tapping it again (SPEC §12)
    assert again.status_code == 302 and again.headers["Location"].endswith("/m/")

    unknown = cli("guides", "login-link", "NOPE")
    assert unknown.exit_code == 1 and "no guide NOPE" in unknown.output
