"""Issue 18, item 7: one public address. Before, `make demo PORT=8101` printed, texted,
e-mailed and published links to :8000 (SITE_URL's fixed default)."""

import json
import os
from io import StringIO
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from relais.core.site import adopt_served_address, site_url_for_addr
from relais.interop import smart
from tests import factories as f

pytestmark = pytest.mark.django_db
ORIGINAL = (django_settings.SITE_URL, os.environ.get("SITE_URL"))


@pytest.fixture
def no_site_url_env(monkeypatch, settings):
    monkeypatch.delenv("SITE_URL", raising=False)
    # An override is active: what adopt_served_address sets is undone after the test.
    settings.SITE_URL = django_settings.SITE_URL
    yield
    os.environ.pop("SITE_URL", None)
    if ORIGINAL[1] is not None:
        os.environ["SITE_URL"] = ORIGINAL[1]


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("127.0.0.1:8101", "http://127.0.0.1:8101"),
        ("8101", "http://127.0.0.1:8101"),
        ("0.0.0.0:8101", "http://127.0.0.1:8101"),
        ("localhost:9000", "http://localhost:9000"),
    ],
)
def test_it_derives_the_address_from_the_served_host_and_port(addr, url):
    assert site_url_for_addr(addr) == url


def test_it_serves_the_demo_with_the_links_of_the_served_port(no_site_url_env, settings):
    out = StringIO()
    with (
        mock.patch("subprocess.Popen") as popen,
        mock.patch("relais.demo.management.commands.serve_demo.call_command") as runserver,
    ):
        call_command("serve_demo", addr="127.0.0.1:8101", stdout=out)
    assert runserver.call_args.args[:2] == ("runserver", "127.0.0.1:8101")
    assert django_settings.SITE_URL == "http://127.0.0.1:8101"
    # The worker started by serve_demo (which sends the SMS and e-mails) inherits it.
    assert os.environ["SITE_URL"] == "http://127.0.0.1:8101"
    assert popen.called
    assert "http://127.0.0.1:8101/" in out.getvalue() and ":8000" not in out.getvalue()


def test_it_keeps_an_explicit_site_url(monkeypatch, settings):
    settings.SITE_URL = django_settings.SITE_URL
    monkeypatch.setenv("SITE_URL", "https://relais.example.fr/")
    assert adopt_served_address("127.0.0.1:8101") == "https://relais.example.fr"
    assert django_settings.SITE_URL == "https://relais.example.fr"


def test_it_links_sms_fhir_and_slot_comment_to_the_served_port(
    no_site_url_env, settings, client, cpts_a
):
    adopt_served_address("127.0.0.1:8101")
    from relais.interop import resources as r

    slot = f.SlotFactory(for_public=True)
    assert r.base_url().startswith("http://127.0.0.1:8101/")
    resource = next(smart.smart_resources("Slot", [slot]))
    assert ":8000" not in json.dumps(resource)
    assert "127.0.0.1:8101" in json.dumps(resource)


def test_it_regenerates_bulk_files_built_for_another_address(no_site_url_env, settings, cpts_a):
    f.SlotFactory(for_public=True)
    settings.SITE_URL = "http://127.0.0.1:8000"
    smart.bulk_publish_files()
    assert smart.bulk_manifest()["siteUrl"] == "http://127.0.0.1:8000"
    adopt_served_address("127.0.0.1:8101")
    assert smart.bulk_manifest() is None  # stale: links to :8000
    manifest = smart.bulk_manifest_or_generate()
    assert manifest["siteUrl"] == "http://127.0.0.1:8101"
    text = (settings.RELAIS_BULK_DIR / "Slot.ndjson").read_text()
    assert "127.0.0.1:8101" in text and ":8000" not in text


def test_it_prints_the_demo_links_with_the_site_url(settings):
    settings.SITE_URL = "http://127.0.0.1:8101"
    out = StringIO()
    with mock.patch(
        "relais.demo.management.commands.demo_data.build_demo", return_value=[("operateur", "x")]
    ):
        call_command("demo_data", print_logins=True, stdout=out)
    assert "http://127.0.0.1:8101/" in out.getvalue()
    assert ":8000" not in out.getvalue()


def test_make_demo_with_a_port_gives_that_port_to_every_demo_command():
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(django_settings.BASE_DIR).parent
    dry = subprocess.run(  # noqa: S603 - our own Makefile, dry run
        ["make", "-n", "-o", ".venv/bin/relais", "demo", "PORT=8101"],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = [line for line in dry.splitlines() if "demo_data" in line or "serve_demo" in line]
    assert len(commands) == 2
    for line in commands:
        assert "SITE_URL=http://127.0.0.1:8101" in line and "8000" not in line


def test_zz_nothing_leaks_to_the_next_tests():
    assert (django_settings.SITE_URL, os.environ.get("SITE_URL")) == ORIGINAL
