"""Counting a journey through the pages (issue 18, items 2 and 8), Django- and
Playwright-free: the keyboard test (tests/browser/test_console_keyboard.py) and the
journey benchmark (relais/bench/journeys.py, run by `make bench`) both count with it.

An action is one step of the flow: typing a field, choosing in a list, submitting,
booking, confirming, or one click. The keystroke-level estimate (Card, Moran & Newell):
0.28 s per key (average typist), 1.35 s of mental preparation per action, and for a
pointer click 1.1 s to point plus 0.2 s to press. The server time of a page is its
Navigation Timing responseStart - requestStart; of an htmx exchange, the Resource Timing
of the last fetch/XHR."""

from __future__ import annotations

from pathlib import Path

K_SECONDS, M_SECONDS, P_SECONDS, B_SECONDS = 0.28, 1.35, 1.1, 0.2
START, END = "<!-- journeys:start -->", "<!-- journeys:end -->"

_NAVIGATION_JS = (
    "() => { const n = performance.getEntriesByType('navigation')[0];"
    " return n ? n.responseStart - n.requestStart : null; }"
)
_FETCH_JS = (
    "() => { const r = performance.getEntriesByType('resource')"
    ".filter(e => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest');"
    " const e = r[r.length - 1]; return e && e.responseStart ? e.responseStart - e.requestStart"
    " : null; }"
)


class Journey:
    """Every key and click goes through here and is counted."""

    def __init__(self, page):
        self.page, self.keys, self.actions, self.clicks = page, 0, 0, 0
        self.server_ms: list[float | None] = []
        self.pages: list[str] = []

    def action(self):
        self.actions += 1

    def type(self, text):
        self.page.keyboard.type(text, delay=5)
        self.keys += len(text)

    def press(self, key):
        self.page.keyboard.press(key)
        self.keys += 1

    def click(self, selector):
        """One action by pointer (a CSS selector or a Playwright locator is clicked)."""
        self.actions += 1
        self.clicks += 1
        target = self.page.locator(selector) if isinstance(selector, str) else selector
        target.click()

    def navigation_ms(self, name=""):
        timing = self.page.evaluate(_NAVIGATION_JS)
        self.server_ms.append(round(timing or 0, 1))
        self.pages.append(name or self.page.url.split("/", 3)[-1])

    def fetch_ms(self, name):
        """The server time of the last htmx exchange (a partial, not a navigation)."""
        timing = self.page.evaluate(_FETCH_JS)
        self.server_ms.append(round(timing, 1) if timing else None)  # None: not measured
        self.pages.append(name)

    def klm_seconds(self):
        seconds = self.keys * K_SECONDS + self.actions * M_SECONDS
        return round(seconds + self.clicks * (P_SECONDS + B_SECONDS), 1)

    def figures(self):
        return {
            "actions": self.actions,
            "keystrokes": self.keys,
            "clicks": self.clicks,
            "klm_seconds": self.klm_seconds(),
            "server_ms_per_page": self.server_ms,
            "pages": self.pages,
        }


def markdown(data: dict, national: dict | None = None) -> str:
    """The journeys section of docs/benchmarks.md, from the JSON the benchmark wrote on the
    demo (`data`) and, when there is one, on the national bench database (`national`)."""
    lines = [
        START,
        "## 8. Journeys in a real browser",
        "",
        f"`relais bench_journeys` (Playwright + Chromium, {data.get('where', 'the demo')}, "
        f"{data.get('when', '?')}): each role's main flow, counted by relais/bench/journey.py. "
        "An action is one step (a field typed, a choice, a submit, a click); keystroke-level "
        f"time = {K_SECONDS} s a key + {M_SECONDS} s a step + {P_SECONDS + B_SECONDS:.1f} s a "
        "click. Server time: Navigation Timing responseStart − requestStart of each page "
        "(Resource Timing for an htmx exchange; — when the browser gave none). Not a timed "
        "test: one run, figures as measured. The ARM's calls end when the request is sent to "
        "the régulateur (an ARM does not book); the OSNP operator opens the first request to "
        "orient that ranks a slot and books its top slot; the régulateur records a decision on "
        "the first request to regulate; the doctor records 'Vu'; the patient answers every "
        "question 'Non' and sends.",
    ]
    if national is None:
        lines += _table(data)
    else:
        lines += ["", "### Demo", ""] + _table(data)[1:]
        lines += [
            "",
            "### Base nationale",
            "",
            f"The same journeys on {national.get('where', 'the national bench database')}, "
            f"{national.get('when', '?')}.",
        ] + _table(national)
    lines.append(END)
    return "\n".join(lines)


def _table(data: dict) -> list[str]:
    lines = [
        "",
        "| Journey | Role | Actions | Keys | Clicks | Keystroke-level time | "
        "Server time per page (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, j in data.get("journeys", {}).items():
        per_page = ", ".join(
            f"{p} {ms:.0f}" if ms is not None else f"{p} —"
            for p, ms in zip(j["pages"], j["server_ms_per_page"], strict=False)
        )
        lines.append(
            f"| {j.get('label', name)} | {j.get('role', '')} | {j['actions']} | "
            f"{j['keystrokes']} | {j['clicks']} | {j['klm_seconds']:.1f} s | {per_page} |"
        )
    errors = data.get("server_errors")
    if errors is not None:
        lines += ["", f"HTTP 5xx answers in the server log during the run: {errors}."]
    return lines


def update_doc(path: Path, data: dict, before: str, national: dict | None = None) -> None:
    """Replaces the delimited journeys section of `path` (or inserts it before `before`)."""
    text = path.read_text() if path.exists() else ""
    section = markdown(data, national)
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    elif before in text:
        i = text.index(before)
        text = text[:i] + section + "\n\n" + text[i:]
    else:
        text = text + "\n" + section + "\n"
    path.write_text(text)
