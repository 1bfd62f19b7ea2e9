"""Time the bulk import of 1,000 professionals (issue 17), a measurement, not a test:

RELAIS_VAR_DIR=$(mktemp -d) PYTHONPATH=$PWD .venv/bin/python scripts/measure_import_professionals.py
DATABASE_URL=postgres://postgres@127.0.0.1:5432/relais_admin PYTHONPATH=$PWD \
    .venv/bin/python scripts/measure_import_professionals.py   # (a throwaway database)

On a fresh database with the real communes of the Essonne: a 1,000-line CSV (RPPS with
their Luhn key, 40 distinct postal codes/towns of the département, every fourth line a
nurse, one line in ten without e-mail), then
1. check (import_parse: decoding, per-line checks, commune resolution),
2. first write (1,000 creations, practices, audit rows) in one transaction,
3. a second import of the same file (1,000 updates, nothing created),
4. a first import of another 1,000 with the invitations (accounts, memberships, e-mails
   written to the outbox).
Each step is run 3 times on fresh rows (median shown) except where it would not be the
same step again."""

import os
import statistics
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from relais.audit.context import audit_actor

    call_command("migrate", verbosity=0)
    from relais.accounts.models import Invitation, User
    from relais.directory.identifiers import luhn_key
    from relais.directory.imports import import_apply, import_parse
    from relais.directory.models import Practice, Professional
    from relais.territory.models import Commune
    from relais.territory.services import communes_load
    from tests import factories as f

    communes_load(departements={"91"})
    towns = list(
        Commune.objects.filter(departement__code="91").exclude(postal_codes="").order_by("insee")
    )
    # Only towns whose postal code is theirs alone or whose name is unique with it.
    towns = [c for c in towns if c.has_point][:40]
    cpts = f.CptsFactory(name="CPTS mesure import", sas=f.sas("91"))

    def csv_for(start: int, n: int = 1000) -> str:
        rows = ["rpps;nom;prenom;profession;adresse;code_postal;commune;telephone;email;"
                "participation_sas;niveau_2"]  # fmt: skip
        for i in range(start, start + n):
            base = f"10{i:08d}"
            town = towns[i % len(towns)]
            profession = "infirmier" if i % 4 == 0 else "médecin"
            email = "" if i % 10 == 0 else f"pro{i}@example.invalid"
            rows.append(
                f"{base + luhn_key(base)};Nom{i};Prénom;{profession};{i % 90 + 1} rue de la "
                f"Mesure;{town.postal_codes.split(';')[0]};{town.name};0639980000;{email};"
                f"{'oui' if i % 2 else 'non'};non"
            )
        return "\n".join(rows) + "\n"

    def timed(fn):
        t0 = time.perf_counter()
        result = fn()
        return time.perf_counter() - t0, result

    print(f"database: {connection.vendor}; CPTS {cpts.public_id}; {len(towns)} towns")
    parse_times, create_times, update_times = [], [], []
    with audit_actor(system="script:measure_import_professionals"):
        for run in range(3):
            text = csv_for(1_000_000 + run * 10_000)
            t, parsed = timed(lambda text=text: import_parse(text=text))
            parse_times.append(t)
            refused = len(parsed.refused)
            t, summary = timed(lambda parsed=parsed: import_apply(parsed=parsed, cpts=cpts))
            create_times.append(t)
            assert summary["created"] == 1000 - refused, (summary, parsed.refused[:3])
            again = import_parse(text=text)
            t, summary = timed(lambda again=again: import_apply(parsed=again, cpts=cpts))
            update_times.append(t)
            assert summary["created"] == 0 and summary["unchanged"] == 1000 - refused
        text = csv_for(2_000_000)
        parsed = import_parse(text=text)
        t_inv, summary = timed(
            lambda: import_apply(parsed=parsed, cpts=cpts, send_invitations=True)
        )
    med = statistics.median
    print(f"refused lines per file: {refused}")
    print(f"check 1,000 lines (import_parse):          median {med(parse_times) * 1000:.0f} ms")
    print(f"first import, 1,000 creations:             median {med(create_times) * 1000:.0f} ms")
    print(f"second import of the same file (updates):  median {med(update_times) * 1000:.0f} ms")
    print(f"1,000 creations with invitations:          {t_inv * 1000:.0f} ms "
          f"({summary['invitations']} invitations)")  # fmt: skip
    print(
        f"rows: {Professional.objects.count()} professionals, {Practice.objects.count()} "
        f"practices, {User.objects.count()} users, {Invitation.objects.count()} invitations"
    )


if __name__ == "__main__":
    main()
