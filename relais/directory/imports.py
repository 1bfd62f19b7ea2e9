"""Bulk import of professionals from a CSV file (docs/administration.md#import).

`import_parse` reads the file (UTF-8 with or without BOM, or Latin-1 / Windows-1252;
separator ; , or tab) and checks every line, writing nothing; `import_apply` writes the
accepted lines in ONE transaction (all of them or none) and, once that is done, queues
the invitations when asked. Idempotent on the RPPS: a second import of the same file
updates the same professionals and creates nothing. A refused line is never written."""

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from relais.core.csv_safety import FORMULA_PREFIXES, csv_safe
from relais.core.errors import ApplicationError
from relais.directory.identifiers import clean, rpps_error
from relais.directory.models import Practice, Profession, Professional

MAX_LINES = 20_000
MAX_BYTES = 10 * 1024 * 1024

# Column -> accepted headers (compared lowercase, accent-free, spaces as "_").
COLUMNS = {
    "rpps": ("rpps", "n_rpps", "numero_rpps"),
    "last_name": ("nom", "nom_d_exercice", "last_name"),
    "first_name": ("prenom", "first_name"),
    "profession": ("profession",),
    "specialty": ("specialite", "specialty", "code_specialite"),
    "practice_name": ("lieu", "cabinet", "nom_du_lieu", "lieu_d_exercice"),
    "address": ("adresse", "address"),
    "postal_code": ("code_postal", "cp", "postal_code"),
    "city": ("commune", "ville", "city"),
    "phone": ("telephone", "tel", "phone"),
    "email": ("email", "e_mail", "courriel", "mail"),
    "sas_participant": ("participation_sas", "sas", "niveau_1"),
    "cpts_level2": ("niveau_2", "niveau2", "volontaire_niveau_2"),
}
REQUIRED = ("rpps", "last_name", "first_name", "profession", "address", "postal_code", "city")
PROFESSIONS = {
    "medecin": Profession.MEDECIN, "medecin_generaliste": Profession.MEDECIN,
    "infirmier": Profession.INFIRMIER, "infirmiere": Profession.INFIRMIER,
    "ide": Profession.INFIRMIER,
    "kine": Profession.KINE, "kinesitherapeute": Profession.KINE,
    "masseur_kinesitherapeute": Profession.KINE,
    "pharmacien": Profession.PHARMACIEN, "pharmacienne": Profession.PHARMACIEN,
    "sage_femme": Profession.SAGE_FEMME, "dentiste": Profession.DENTISTE,
    "chirurgien_dentiste": Profession.DENTISTE,
}  # fmt: skip
YES = {"oui", "o", "1", "x", "vrai", "true", "yes"}
NO = {"non", "n", "0", "", "faux", "false", "no"}
TEXT_FIELDS = ("last_name", "first_name", "practice_name", "address", "city", "specialty")


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


@dataclass
class Line:
    number: int  # line number in the file (the header is line 1)
    values: dict
    errors: list[str] = field(default_factory=list)
    action: str = ""  # "create" / "update" once checked
    commune: object = None

    @property
    def shown(self) -> dict:
        """The cells as the preview shows them: formula-looking text neutralised, the
        profession by its French label."""
        shown = {k: csv_safe(v) for k, v in self.values.items()}
        if self.values.get("profession") in Profession.values:
            shown["profession"] = Profession(self.values["profession"]).label
        return shown


@dataclass
class Parsed:
    lines: list[Line]
    errors: list[str]  # errors of the whole file (encoding, header, size)
    encoding: str = ""

    @property
    def accepted(self) -> list[Line]:
        return [line for line in self.lines if not line.errors]

    @property
    def refused(self) -> list[Line]:
        return [line for line in self.lines if line.errors]


def decode(raw: bytes) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "UTF-8 (BOM)"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "Latin-1 / Windows-1252"


def _bool(value: str, label: str, errors: list[str]) -> bool:
    key = _key(value)
    if key in YES:
        return True
    if key in NO:
        return False
    errors.append(f"{label} : « {csv_safe(value)} » n'est ni oui ni non.")
    return False


def import_parse(*, text: str, encoding: str = "") -> Parsed:
    """Check every line; nothing is written."""
    from relais.territory.selectors import commune_for_address

    if not text.strip():
        return Parsed([], ["Le fichier est vide."], encoding)
    if "\x00" in text:
        return Parsed([], ["Fichier binaire : enregistrez-le en CSV (texte)."], encoding)
    sample = text[:5000]
    delimiter = max(";,\t", key=lambda d: sample.split("\n", 1)[0].count(d))
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return Parsed([], ["Le fichier est vide."], encoding)
    by_header = {_key(h): i for i, h in enumerate(header)}
    index = {}
    for column, names in COLUMNS.items():
        found = next((by_header[n] for n in names if n in by_header), None)
        if found is not None:
            index[column] = found
    missing = [COLUMNS[c][0] for c in REQUIRED if c not in index]
    if missing:
        return Parsed(
            [],
            [
                f"Colonnes obligatoires absentes : {', '.join(missing)} (en-tête lu : "
                f"{', '.join(csv_safe(h) for h in header[:15])}). Voir le modèle de fichier."
            ],
            encoding,
        )
    lines: list[Line] = []
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(lines) >= MAX_LINES:
                return Parsed([], [f"Plus de {MAX_LINES} lignes : découpez le fichier."], encoding)
            values = {c: (row[i].strip() if i < len(row) else "") for c, i in index.items()}
            lines.append(Line(number, values))
    except csv.Error as exc:
        return Parsed([], [f"Fichier CSV illisible : {exc}."], encoding)
    if not lines:
        return Parsed([], ["Le fichier ne contient aucune ligne après l'en-tête."], encoding)

    communes_cache: dict = {}
    seen: dict[str, int] = {}
    for line in lines:
        v, errors = line.values, line.errors
        v["rpps"] = clean(v.get("rpps", ""))
        for column in REQUIRED:
            if not v.get(column):
                errors.append(f"{COLUMNS[column][0]} manquant.")
        for column in TEXT_FIELDS:
            if v.get(column, "").startswith(FORMULA_PREFIXES):
                errors.append(f"{COLUMNS[column][0]} : cellule qui ressemble à une formule.")
        if v["rpps"] and (e := rpps_error(v["rpps"])):
            errors.append(e)
        elif v["rpps"] in seen:
            errors.append(f"RPPS {v['rpps']} déjà présent ligne {seen[v['rpps']]} du fichier.")
        elif v["rpps"]:
            seen[v["rpps"]] = line.number
        if v.get("profession"):
            profession = PROFESSIONS.get(_key(v["profession"]))
            if profession is None:
                errors.append(
                    f"Profession « {csv_safe(v['profession'])} » inconnue (médecin, infirmier, "
                    "kiné, pharmacien, sage-femme, dentiste)."
                )
            v["profession"] = profession or v["profession"]
        if v.get("email"):
            try:
                validate_email(v["email"])
            except ValidationError:
                errors.append(f"E-mail « {csv_safe(v['email'])} » invalide.")
        phone = v.get("phone", "").replace(" ", "").replace(".", "")
        if phone and not (phone.lstrip("+").isdigit() and 10 <= len(phone) <= 13):
            errors.append(f"Téléphone « {csv_safe(v['phone'])} » invalide.")
        v["phone"] = phone
        for column, label in (
            ("sas_participant", "participation_sas"),
            ("cpts_level2", "niveau_2"),
        ):
            v[column] = _bool(v.get(column, ""), label, errors)
        for column, limit in (("last_name", 100), ("first_name", 100), ("address", 200),
                              ("practice_name", 150), ("specialty", 10)):  # fmt: skip
            if len(v.get(column, "")) > limit:
                errors.append(f"{COLUMNS[column][0]} : plus de {limit} caractères.")
        if v.get("postal_code") and v.get("city"):
            where = (v["postal_code"], _key(v["city"]))
            if where not in communes_cache:
                communes_cache[where] = commune_for_address(
                    postal_code=v["postal_code"], city=v["city"]
                )
            line.commune, reason = communes_cache[where]
            if line.commune is None:
                errors.append(reason)
            elif not line.commune.has_point:
                errors.append(
                    f"{line.commune.name} n'a pas de coordonnées : saisissez ce lieu à la main."
                )
    existing = set(Professional.objects.filter(rpps__in=list(seen)).values_list("rpps", flat=True))
    for line in lines:
        if not line.errors:
            line.action = "update" if line.values["rpps"] in existing else "create"
    return Parsed(lines, [], encoding)


def import_parse_bytes(raw: bytes) -> Parsed:
    if len(raw) > MAX_BYTES:
        return Parsed([], [f"Fichier trop gros (plus de {MAX_BYTES // 1024 // 1024} Mo)."])
    text, encoding = decode(raw)
    return import_parse(text=text, encoding=encoding)


FIELDS = ("profession", "specialty", "first_name", "last_name", "phone", "email",
          "sas_participant", "cpts_level2")  # fmt: skip


def import_apply(
    *, parsed: Parsed, cpts, actor=None, send_invitations: bool = False, batch=None
) -> dict:
    """Write the accepted lines, all or none (one transaction); returns the counts.
    Invitations (an effecteur account for each line with an e-mail and no account yet)
    are written after every line, in the same transaction; with `batch` (the page) they are
    left to a task queued in that transaction (about 20 ms each: a 1,000-line file would
    hold the page for 20 s), which the worker runs once the import is committed."""
    from relais.audit.models import AuditEvent
    from relais.audit.services import audit_record

    accepted = parsed.accepted
    if not accepted:
        raise ApplicationError("Aucune ligne à importer.", code="nothing_to_import")
    with transaction.atomic():
        if batch is not None:
            # Claimed first (a conditional UPDATE): of two confirmations, one imports.
            from django.utils import timezone

            from relais.directory.models import ImportBatch

            if not ImportBatch.objects.filter(pk=batch.pk, applied_at__isnull=True).update(
                applied_at=timezone.now()
            ):
                raise ApplicationError("Cet import a déjà été confirmé.", code="already_applied")
        by_rpps = {
            p.rpps: p
            for p in Professional.objects.select_for_update().filter(
                rpps__in=[line.values["rpps"] for line in accepted]
            )
        }
        to_create, to_update, to_change = [], [], []
        for line in accepted:
            v = line.values
            values = {f: v.get(f, "") for f in FIELDS}
            if values["profession"] == Profession.MEDECIN and not values["specialty"]:
                values["specialty"] = "SM54"
            if values["sas_participant"]:
                values["accepts_surnumeraire"] = True
            pro = by_rpps.get(v["rpps"])
            if pro is None:
                pro = Professional(rpps=v["rpps"], cpts=cpts, **values)
                to_create.append(pro)
                by_rpps[pro.rpps] = pro
            else:
                changed = False
                for f, value in values.items():
                    if f == "email" and not value:
                        continue  # an empty cell never erases a known address
                    if getattr(pro, f) != value:
                        setattr(pro, f, value)
                        changed = True
                if pro.cpts_id is None:
                    pro.cpts = cpts
                    changed = True
                to_update.append(pro)
                if changed:
                    to_change.append(pro)
        Professional.objects.bulk_create(to_create, batch_size=500)
        created = set(to_create)
        if to_create and to_create[0].pk is None:  # backends without RETURNING
            fresh = Professional.objects.filter(rpps__in=[p.rpps for p in to_create])
            for p in fresh:
                by_rpps[p.rpps].pk = p.pk
        update_fields = [*FIELDS, "accepts_surnumeraire", "cpts"]
        # Only the rows that changed are written: re-importing the same file writes nothing.
        Professional.objects.bulk_update(to_change, update_fields, batch_size=200)
        # Further CPTS: a professional whose main CPTS is another one joins this one too.
        Through = Professional.other_cpts.through
        Through.objects.bulk_create(
            [
                Through(professional_id=p.pk, cpts_id=cpts.pk)
                for p in to_update
                if p.cpts_id != cpts.pk
            ],
            ignore_conflicts=True,
        )
        practices = _practices(accepted, by_rpps)
        # One audit row per professional written, in one INSERT.
        AuditEvent.objects.bulk_create(
            [_audit_row(actor, p, p in created, cpts) for p in [*to_create, *to_change]]
        )
        invited = 0
        if send_invitations and batch is not None:
            from relais.core.queue import enqueue

            enqueue("relais.directory.tasks.invite_imported", batch.pk)
            invited = sum(
                1
                for line in accepted
                if (line.values.get("email") or by_rpps[line.values["rpps"]].email)
                and by_rpps[line.values["rpps"]].user_id is None
            )
        elif send_invitations:
            invited = _invite(accepted, by_rpps, cpts=cpts, actor=actor)
        summary = {
            "created": len(to_create),
            "updated": len(to_change),
            "unchanged": len(to_update) - len(to_change),
            "refused": len(parsed.refused),
            "practices_created": practices,
            "invitations": invited,
        }
        if batch is not None:
            from relais.directory.models import ImportBatch

            ImportBatch.objects.filter(pk=batch.pk).update(summary=summary)
        audit_record(
            user=actor, action="create", object_type="directory.importbatch",
            object_id=cpts.public_id, reason=f"import CSV : {summary}"[:200],
        )  # fmt: skip
    return summary


def _audit_row(actor, professional, created: bool, cpts):
    from relais.audit.services import _event, _resolve_actor

    actor_obj = _resolve_actor(
        user=actor, api_client="", system="", patient_link=False, public_form=False
    )
    return _event(
        actor=actor_obj,
        role="",
        action="create" if created else "update",
        object_type="directory.professional",
        object_id=str(professional.public_id),
        reason=f"import CSV ({cpts.name})"[:200],
    )


def _practices(accepted, by_rpps) -> int:
    """One practice per (address, commune), reused across lines and imports; each
    professional linked to the practice of their line."""
    communes = {line.commune.pk for line in accepted}
    existing = {
        (p.address.lower(), p.commune_id): p
        for p in Practice.objects.filter(commune_id__in=communes)
    }
    new = {}
    for line in accepted:
        key = (line.values["address"].lower(), line.commune.pk)
        if key not in existing and key not in new:
            v = line.values
            new[key] = Practice(
                name=v.get("practice_name") or f"Cabinet {v['last_name']}",
                address=v["address"],
                commune=line.commune,
                latitude=line.commune.latitude,
                longitude=line.commune.longitude,
                phone=v.get("phone", ""),
            )
    Practice.objects.bulk_create(list(new.values()), batch_size=500)
    if new and next(iter(new.values())).pk is None:
        for p in Practice.objects.filter(commune_id__in=communes):
            existing[(p.address.lower(), p.commune_id)] = p
    existing.update(new)
    Through = Practice.professionals.through
    Through.objects.bulk_create(
        [
            Through(
                practice_id=existing[(line.values["address"].lower(), line.commune.pk)].pk,
                professional_id=by_rpps[line.values["rpps"]].pk,
            )
            for line in accepted
        ],
        ignore_conflicts=True,
    )
    return len(new)


def _invite(accepted, by_rpps, *, cpts, actor) -> int:
    from relais.accounts.invitations import invitation_create
    from relais.accounts.models import Role

    invited = 0
    for line in accepted:
        pro = by_rpps[line.values["rpps"]]
        email = line.values.get("email") or pro.email
        if not email or pro.user_id is not None:
            continue
        _, invitation = invitation_create(
            actor=actor, email=email, first_name=pro.first_name, last_name=pro.last_name,
            role=Role.EFFECTEUR, cpts=cpts, professional=pro,
        )  # fmt: skip
        invited += invitation is not None
    return invited


def import_invite(*, batch) -> int:
    """The invitations of a confirmed batch (the task queued by import_apply), as its
    author: the lines with an e-mail whose professional has no account yet."""
    parsed = import_parse(text=batch.content)
    accepted = parsed.accepted
    by_rpps = {
        p.rpps: p
        for p in Professional.objects.filter(rpps__in=[x.values["rpps"] for x in accepted])
    }
    accepted = [x for x in accepted if x.values["rpps"] in by_rpps]
    with transaction.atomic():
        return _invite(accepted, by_rpps, cpts=batch.cpts, actor=batch.created_by)
