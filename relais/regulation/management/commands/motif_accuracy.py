"""Measure the motif matcher on a file of French phrasings.

relais motif_accuracy [--file tests/regulation/phrasings.csv] [--show-misses]
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

import relais
from relais.regulation.matching import evaluate, get_matcher, load_phrasings

REPO_ROOT = Path(relais.__file__).resolve().parent.parent
DEFAULT_PHRASINGS = REPO_ROOT / "tests" / "regulation" / "phrasings.csv"


class Command(BaseCommand):
    help = "Top-1/top-3 accuracy, red-flag recall/precision and timing of the motif matcher."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file",
            default=str(DEFAULT_PHRASINGS),
            help="CSV with columns text,expected_code,red_flag (oui/non).",
        )
        parser.add_argument(
            "--show-misses", action="store_true", help="List the phrasings the matcher got wrong."
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"Fichier introuvable : {path}")
        phrasings = load_phrasings(path)
        if not phrasings:
            raise CommandError(f"Aucune formulation dans {path}")
        matcher = get_matcher()  # built before timing: indexes are a one-off cost
        report = evaluate(phrasings, matcher)
        non_red = report.total - report.red_flag_total
        lines = [
            f"Fichier : {path}",
            f"Total : {report.total} formulations "
            f"({report.red_flag_total} avec signe de gravité, {non_red} sans)",
            f"Top-1 : {report.top1:.1%}",
            f"Top-3 : {report.top3:.1%}",
            f"Rappel signes de gravité : {report.red_flag_recall:.1%}",
            f"Précision signes de gravité : {report.red_flag_precision:.1%}",
            f"Faux positifs : {report.false_positives}/{non_red} "
            f"({report.false_positive_rate:.1%})",
            f"Temps par suggestion : moyenne {report.mean_ms:.3f} ms, p95 {report.p95_ms:.3f} ms",
        ]
        for line in lines:
            self.stdout.write(line)
        if options["show_misses"]:
            for title, items in (
                ("Code attendu hors top-3", report.missed_codes),
                ("Signe de gravité manqué", report.missed_flags),
                ("Faux signe de gravité", report.false_flags),
            ):
                for item in items:
                    self.stdout.write(f"{title} : {item.text!r} (attendu {item.expected_code})")
