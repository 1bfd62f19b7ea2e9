"""The intake form's live boxes in a real browser: the typed name and motif travel in
htmx POST bodies (with the CSRF header), never in a URL."""

import pytest

from tests import factories as f
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_sends_the_typed_name_and_motif_by_post(live_server, browser, olivia, cpts_a):
    f.RequestFactory(patient=f.PatientFactory(last_name="Quenouillère"))
    olivia.set_password("un-mot-de-passe-solide")
    olivia.save()
    page = browser.new_page()
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data or "")))
    login(page, live_server.url, "olivia")
    page.goto(f"{live_server.url}/demandes/nouvelle/")
    page.fill("#id_last_name", "Quenouill")
    page.wait_for_selector("#patient-matches :text('QUENOUILLÈRE')")
    page.fill("#id_motif_text", "douleur thoracique")
    page.wait_for_selector("#motif-suggestions .redflag")
    boxes = [(m, url, body) for m, url, body in sent if "/demandes/patients/" in url]
    boxes += [(m, url, body) for m, url, body in sent if "/demandes/motifs/" in url]
    assert boxes and all(m == "POST" and "?" not in url for m, url, _ in boxes)
    assert any("Quenouill" in body for _, _, body in boxes)
    assert not any("Quenouill" in url or "thoracique" in url for _, url, _ in sent)
