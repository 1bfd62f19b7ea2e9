"""Shared by the data migrations that load the CISP-2 motifs from the shipped CSV."""

import csv

from relais.regulation.services import MOTIFS_FILE


def load(apps) -> None:
    Motif = apps.get_model("regulation", "Motif")
    with open(MOTIFS_FILE, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            Motif.objects.update_or_create(
                code=row["code"],
                defaults={
                    "label": row["label_fr"],
                    "chapter": row["chapitre"],
                    "refer_to_15": row["orienter_vers_15"].strip().lower() == "oui",
                },
            )
