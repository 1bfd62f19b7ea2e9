"""The journeys section of docs/benchmarks.md: written by `relais bench_journeys` between
its markers, replaced (never duplicated) on the next run, and kept by `relais bench`,
which rewrites the rest of the file."""

from relais.bench.journey import END, START, markdown, update_doc
from relais.bench.report import ANALYSIS, Report

DATA = {
    "when": "2026-12-02 02:47 UTC",
    "where": "the demo",
    "server_errors": 0,
    "journeys": {
        "arm_known": {
            "label": "ARM, known patient",
            "role": "ARM",
            "actions": 4,
            "keystrokes": 38,
            "clicks": 0,
            "klm_seconds": 16.0,
            "pages": ["nouvelle demande", "réservation"],
            "server_ms_per_page": [92.4, None],
        }
    },
}


def test_the_section_lists_each_journey_with_its_figures():
    text = markdown(DATA)
    assert text.startswith(START) and text.endswith(END)
    assert (
        "| ARM, known patient | ARM | 4 | 38 | 0 | 16.0 s | nouvelle demande 92, réservation — |"
        in text
    )
    assert "HTTP 5xx answers in the server log during the run: 0." in text


def test_a_second_run_replaces_the_section_and_relais_bench_keeps_it(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold figures\n\n" + ANALYSIS + "\n\n## Analysis\n\nby hand\n")
    update_doc(doc, DATA, before=ANALYSIS)
    again = {**DATA, "journeys": {"arm_known": {**DATA["journeys"]["arm_known"], "actions": 5}}}
    update_doc(doc, again, before=ANALYSIS)
    text = doc.read_text()
    assert text.count(START) == 1 and "| 5 | 38 |" in text and "| 4 | 38 |" not in text
    assert text.index(END) < text.index(ANALYSIS)

    report = Report(quick=True, workers=1, threads=1)
    report.markdown = lambda: "# Benchmarks\n\nnew figures\n"  # the national run's part
    report.write(doc)
    text = doc.read_text()
    assert "new figures" in text and "old figures" not in text
    assert text.count(START) == 1 and "| 5 | 38 |" in text and "by hand" in text
    assert text.index("new figures") < text.index(START) < text.index(ANALYSIS)


def test_the_national_run_is_a_second_table_after_the_demo_one(tmp_path):
    national = {
        **DATA,
        "where": "a national-size PostgreSQL database",
        "server_errors": 2,
        "journeys": {"arm_known": {**DATA["journeys"]["arm_known"], "actions": 6}},
    }
    text = markdown(DATA, national)
    assert text.count("| Journey | Role |") == 2
    demo, base = text.split("### Base nationale")
    assert "### Demo" in demo and "| 4 | 38 |" in demo and "server log during the run: 0." in demo
    assert "national-size PostgreSQL" in base and "| 6 | 38 |" in base
    assert "server log during the run: 2." in base and base.endswith(END)

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n" + ANALYSIS + "\n")
    update_doc(doc, DATA, before=ANALYSIS, national=national)
    update_doc(doc, DATA, before=ANALYSIS)  # a demo-only run: the second table goes
    assert doc.read_text().count(START) == 1 and "Base nationale" not in doc.read_text()
