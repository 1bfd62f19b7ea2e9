"""Measure the motif matcher on a file of French phrasings.

relais motif_accuracy [FILE | --file FILE] [--show-misses]

Prints red-flag recall and false alarms, top-1/top-3 CISP-2 accuracy, the misses per
criterion and the false alarms per trap kind (blind sets have criterion and trap columns),
and the in-process time per suggestion (p50/p95).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

import relais
from relais.regulation.matching import evaluate, get_matcher, load_phrasings

REPO_ROOT = Path(relais.__file__).resolve().parent.parent
DEFAULT_PHRASINGS = REPO_ROOT / "tests" / "regulation" / "phrasings.csv"


class Command(BaseCommand):
    help = (
        "Red-flag recall and false alarms, top-1/top-3 accuracy, misses per criterion and "
        "timing of the motif matcher on a phrasings file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="CSV with columns text,expected_code,red_flag (oui/non)[,criterion,trap].",
        )
        parser.add_argument("--file", default=None, help="Same as the positional FILE.")
        parser.add_argument(
            "--show-misses", action="store_true", help="List the phrasings the matcher got wrong."
        )

    def handle(self, *args, **options):
        path = Path(options["path"] or options["file"] or DEFAULT_PHRASINGS)
        if not path.is_file():
            raise CommandError(f"Fichier introuvable : {path}")
        try:
            phrasings = load_phrasings(path)
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise CommandError(
                f"Fichier illisible ({exc}) : colonnes attendues text,expected_code,red_flag"
            ) from exc
        if not phrasings:
            raise CommandError(f"Aucune formulation dans {path}")
        matcher = get_matcher()  # built before timing: the pipeline is a one-off cost
        matcher.match("échauffement")  # first call warms the caches
        report = evaluate(phrasings, matcher)
        non_red = report.total - report.red_flag_total
        found = report.red_flag_total - len(report.missed_flags)
        lines = [
            f"Fichier : {path}",
            f"Total : {report.total} formulations "
            f"({report.red_flag_total} avec signe de gravité, {non_red} sans)",
            f"Rappel signes de gravité : {report.red_flag_recall:.1%} "
            f"({found}/{report.red_flag_total})",
            f"Fausses alertes : {report.false_positives}/{non_red} "
            f"({report.false_positive_rate:.1%})",
            f"Précision signes de gravité : {report.red_flag_precision:.1%}",
            f"Top-1 : {report.top1:.1%}",
            f"Top-3 : {report.top3:.1%}",
            f"Temps par suggestion : p50 {report.p50_ms:.2f} ms, p95 {report.p95_ms:.2f} ms, "
            f"moyenne {report.mean_ms:.2f} ms (temps CPU p95 {report.cpu_p95_ms:.2f} ms)",
        ]
        misses = {k: v for k, v in report.misses_by_criterion.items() if v[0]}
        if misses:
            lines.append("Manqués par critère :")
            lines += [f"  {k} : {missed}/{total}" for k, (missed, total) in misses.items()]
        if report.false_alarms_by_trap:
            lines.append("Fausses alertes par type :")
            lines += [
                f"  {k} : {false}/{total}"
                for k, (false, total) in report.false_alarms_by_trap.items()
            ]
        for line in lines:
            self.stdout.write(line)
        if options["show_misses"]:
            for title, items in (
                ("Code attendu hors top-3", report.missed_codes),
                ("Signe de gravité manqué", report.missed_flags),
                ("Fausse alerte", report.false_flags),
            ):
                for item in items:
                    self.stdout.write(f"{title} : {item.text!r} (attendu {item.expected_code})")
