"""Bulk import of professionals: the parser, the all-or-nothing write, the command and
the page (upload -> preview -> confirm), by the right manager only."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from relais.accounts.models import Invitation, Role, User
from relais.audit.models import AuditEvent
from relais.directory.identifiers import luhn_key
from relais.directory.imports import import_apply, import_parse, import_parse_bytes
from relais.directory.models import ImportBatch, Practice, Professional
from relais.directory.tasks import invite_imported
from relais.notifications.models import Notification
from tests import factories as f

pytestmark = pytest.mark.django_db

HEADER = (
    "rpps;nom;prenom;profession;specialite;lieu;adresse;code_postal;commune;telephone;email;"
    "participation_sas;niveau_2"
)


def rpps(n: int) -> str:
    base = f"10{n:08d}"
    return base + luhn_key(base)


def line(n: int, **over) -> str:
    values = {
        "rpps": rpps(n),
        "nom": f"Durand{n}",
        "prenom": "Claire",
        "profession": "médecin",
        "specialite": "",
        "lieu": "",
        "adresse": f"{n} rue de la Gare",
        "code_postal": "91000",
        "commune": "Évry-Courcouronnes",
        "telephone": "06 39 98 00 00",
        "email": f"claire{n}@example.invalid",
        "participation_sas": "oui",
        "niveau_2": "non",
    }
    values.update(over)
    return ";".join(values.values())


def csv_text(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


@pytest.fixture
def communes(db):
    for insee in ("91228", "91174", "91223"):
        f.commune(insee)


def test_it_creates_then_updates_the_same_professionals_on_a_second_import(cpts_a, communes):
    text = csv_text(line(1), line(2), line(3, commune="Corbeil-Essonnes", code_postal="91100"))
    summary = import_apply(parsed=import_parse(text=text), cpts=cpts_a)
    assert summary["created"] == 3 and summary["updated"] == 0
    pro = Professional.objects.get(rpps=rpps(3))
    assert pro.cpts == cpts_a and pro.specialty == "SM54" and pro.accepts_surnumeraire
    practice = pro.practices.get()
    assert practice.commune.insee == "91174"
    assert (practice.latitude, practice.longitude) == (48.59732, 2.464555)  # commune centroid

    again = import_parse(
        text=csv_text(
            line(1, nom="Durand-Neuf"),
            line(2),
            line(3, commune="Corbeil-Essonnes", code_postal="91100"),
        )
    )
    assert {x.action for x in again.accepted} == {"update"}
    summary = import_apply(parsed=again, cpts=cpts_a)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    assert Professional.objects.filter(rpps__in=[rpps(1), rpps(2), rpps(3)]).count() == 3
    assert Professional.objects.get(rpps=rpps(1)).last_name == "Durand-Neuf"
    assert Practice.objects.filter(commune__insee="91174").count() == 1  # reused, not duplicated
    # one row per professional created or changed (the two unchanged ones: none)
    assert AuditEvent.objects.filter(object_type="directory.professional").count() == 4


def test_it_reports_every_refused_line_in_french_and_writes_none_of_them(cpts_a, communes):
    text = csv_text(
        line(1),
        line(2, rpps="10000000001"),  # wrong key
        line(3, profession="plombier"),
        line(4, code_postal="99999"),
        line(5, nom='=HYPERLINK("http://x")'),
        line(6, email="pas-un-mail"),
        line(1, nom="Doublon"),  # the same RPPS twice in the file
        line(8, commune="Étampes"),  # 91000 is not Étampes'
    )
    parsed = import_parse(text=text)
    errors = {x.number: " ".join(x.errors) for x in parsed.refused}
    assert "clé de contrôle" in errors[3]
    assert "Profession « plombier » inconnue" in errors[4]
    assert "Aucune commune n'a le code postal 99999" in errors[5]
    assert "formule" in errors[6]
    assert "E-mail « pas-un-mail » invalide" in errors[7]
    assert "déjà présent ligne 2" in errors[8]
    assert "Évry-Courcouronnes" in errors[9]
    assert [x.number for x in parsed.accepted] == [2]
    # The preview shows the formula neutralised.
    formula = next(x for x in parsed.refused if x.number == 6)
    assert formula.shown["last_name"].startswith("'=")
    import_apply(parsed=parsed, cpts=cpts_a)
    assert Professional.objects.count() == 1


def test_it_reads_latin1_and_bom_and_comma_separated_files(cpts_a, communes):
    latin1 = csv_text(line(1, nom="Lefèvre")).encode("cp1252")
    parsed = import_parse_bytes(latin1)
    assert (
        parsed.encoding.startswith("Latin-1")
        and parsed.accepted[0].values["last_name"] == "Lefèvre"
    )
    bom = ("\ufeff" + csv_text(line(2))).encode("utf-8")
    parsed = import_parse_bytes(bom)
    assert parsed.encoding == "UTF-8 (BOM)" and len(parsed.accepted) == 1
    comma = csv_text(line(3)).replace(";", ",")
    assert len(import_parse(text=comma).accepted) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "vide"),
        (b"rpps;nom\n", "Colonnes obligatoires absentes"),
        ((HEADER + "\n").encode(), "aucune ligne"),
        (b"\x00\x01\x02binaire", "binaire"),
    ],
)
def test_it_refuses_a_file_that_cannot_be_imported(content, message, cpts_a):
    parsed = import_parse_bytes(content)
    assert parsed.errors and message in parsed.errors[0]
    assert not parsed.lines


def test_it_handles_ten_thousand_lines_in_one_transaction(cpts_a, communes):
    text = csv_text(*(line(n) for n in range(1, 10_001)))
    parsed = import_parse(text=text)
    assert len(parsed.accepted) == 10_000
    summary = import_apply(parsed=parsed, cpts=cpts_a)
    assert summary["created"] == 10_000
    assert Professional.objects.filter(cpts=cpts_a).count() == 10_000


def test_it_writes_nothing_when_one_accepted_line_fails_at_write_time(
    cpts_a, communes, monkeypatch
):
    parsed = import_parse(text=csv_text(line(1), line(2)))

    def boom(*args, **kwargs):
        raise RuntimeError("disque plein")

    monkeypatch.setattr("relais.directory.imports._practices", boom)
    with pytest.raises(RuntimeError):
        import_apply(parsed=parsed, cpts=cpts_a)
    assert Professional.objects.count() == 0


def test_it_adds_a_known_professional_of_another_cpts_as_a_further_cpts(cpts_a, cpts_b, communes):
    import_apply(parsed=import_parse(text=csv_text(line(1))), cpts=cpts_a)
    import_apply(parsed=import_parse(text=csv_text(line(1))), cpts=cpts_b)
    pro = Professional.objects.get(rpps=rpps(1))
    assert pro.cpts == cpts_a and pro.cpts_ids() == [cpts_a.pk, cpts_b.pk]


def test_it_invites_only_after_the_confirmation_and_once(cpts_a, communes, coralie):
    parsed = import_parse(text=csv_text(line(1), line(2, email="")))
    assert Invitation.objects.count() == 0  # the preview sends nothing
    summary = import_apply(parsed=parsed, cpts=cpts_a, send_invitations=True)
    assert summary["invitations"] == 1
    invitation = Invitation.objects.get()
    assert invitation.role == Role.EFFECTEUR and invitation.cpts == cpts_a
    assert Professional.objects.get(rpps=rpps(1)).user == invitation.user
    assert Notification.objects.filter(kind="invitation").count() == 1
    summary = import_apply(
        parsed=import_parse(text=csv_text(line(1))), cpts=cpts_a, send_invitations=True
    )
    assert summary["invitations"] == 0  # the account exists: no second link


def test_the_command_imports_and_reports_refused_lines(cpts_a, communes, tmp_path):
    path = tmp_path / "pros.csv"
    path.write_bytes(csv_text(line(1), line(2, rpps="123")).encode("cp1252"))
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_professionals",
        str(path),
        cpts=str(cpts_a.public_id),
        dry_run=True,
        stdout=out,
        stderr=err,
    )
    assert "1 acceptées" in out.getvalue() and "ligne 3" in err.getvalue()
    assert Professional.objects.count() == 0
    call_command(
        "import_professionals", str(path), cpts=str(cpts_a.public_id), stdout=out, stderr=err
    )
    assert Professional.objects.count() == 1
    with pytest.raises(CommandError, match="CPTS inconnue"):
        call_command("import_professionals", str(path), cpts=str(uuid.uuid4()))
    with pytest.raises(CommandError, match="CPTS inconnue"):
        call_command("import_professionals", str(path), cpts="pas-un-uuid")
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    with pytest.raises(CommandError, match="rien n'a été importé"):
        call_command("import_professionals", str(empty), cpts=str(cpts_a.public_id), stderr=err)


@pytest.fixture
def coord_a(cpts_a):
    return f.member(f.UserFactory(username="coordinatrice_a"), Role.COORDINATEUR, cpts=cpts_a)


def test_the_page_previews_then_imports_on_confirmation(client, coord_a, cpts_a, communes):
    client.force_login(coord_a)
    upload = io.BytesIO(csv_text(line(1), line(2, rpps="1")).encode("utf-8"))
    upload.name = "pros.csv"
    response = client.post(
        reverse("directory:import_upload"),
        {"cpts": str(cpts_a.public_id), "file": upload, "send_invitations": "on"},
    )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and str(batch.public_id) in response["Location"]
    preview = client.get(response["Location"])
    body = preview.content.decode()
    assert "1</strong> lignes acceptées" in body and "11 chiffres" in body
    assert Professional.objects.count() == 0 and Invitation.objects.count() == 0
    confirmed = client.post(response["Location"])
    assert confirmed.status_code == 302
    assert Professional.objects.count() == 1
    # The invitations are left to a task queued with the import (the page does not wait).
    assert Invitation.objects.count() == 0
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(task_path="relais.directory.tasks.invite_imported")
    assert queued.count() == 1
    invite_imported.call(batch.pk)
    assert Invitation.objects.count() == 1
    assert invite_imported.call(batch.pk) == 0  # run twice (a reclaimed task): no second link
    again = client.post(response["Location"], follow=True)  # a second click imports nothing
    assert "déjà été confirmé" in again.content.decode()
    assert Professional.objects.count() == 1 and queued.count() == 1


def test_a_coordinator_of_another_cpts_cannot_see_or_confirm_the_batch(
    client, coralie, coord_a, cpts_a, communes
):
    batch = ImportBatch.objects.create(cpts=cpts_a, created_by=coord_a, content=csv_text(line(1)))
    client.force_login(coralie)
    url = reverse("directory:import_preview", args=[batch.public_id])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert Professional.objects.count() == 0
    # and CPTS A is not among the CPTS she may import into
    upload = io.BytesIO(csv_text(line(1)).encode())
    upload.name = "x.csv"
    response = client.post(
        reverse("directory:import_upload"), {"cpts": str(cpts_a.public_id), "file": upload}
    )
    assert response.status_code == 200 and ImportBatch.objects.count() == 1


def test_the_template_download_is_an_importable_example(client, coord_a, communes):
    client.force_login(coord_a)
    response = client.get(reverse("directory:import_template"))
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("rpps;nom;prenom;profession")
    parsed = import_parse(text=text)
    assert len(parsed.lines) == 1 and parsed.lines[0].errors == []
    assert User.objects.filter(username="coordinatrice_a").exists()


def test_the_refused_lines_download_neutralises_formulas(
    client, coord_a, coralie, cpts_a, communes
):
    text = csv_text(line(1), line(2, nom='=HYPERLINK("http://x")', rpps="123"))
    batch = ImportBatch.objects.create(cpts=cpts_a, created_by=coord_a, content=text)
    url = reverse("directory:import_errors", args=[batch.public_id])
    client.force_login(coord_a)
    rows = client.get(url).content.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("ligne;erreurs;rpps;nom")
    assert len(rows) == 2 and rows[1].startswith("3;")
    assert (
        "'=HYPERLINK" in rows[1] and ";=HYPERLINK" not in rows[1] and '"=HYPERLINK' not in rows[1]
    )
    assert "11 chiffres" in rows[1] and rows[1].endswith(";oui;non")
    client.force_login(coralie)
    assert client.get(url).status_code == 404
