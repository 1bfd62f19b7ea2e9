"""Shared by the data migrations that load the CISP-2 motifs from the shipped CSV."""

from relais.regulation.services import motifs_load


def load(apps) -> None:
    motifs_load(model=apps.get_model("regulation", "Motif"))
