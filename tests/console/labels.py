"""An automated label check (WCAG 2.1 AA 1.3.1 / 4.1.2): every form control of a page has
an accessible name, from a <label for>, a wrapping <label>, aria-label or
aria-labelledby; every button has a text (or aria-label)."""

from html.parser import HTMLParser

UNNAMED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


class _Controls(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.controls: list[dict] = []
        self.label_depth = 0
        self.buttons: list[dict] = []
        self._button = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and a.get("type", "text") in UNNAMED_INPUTS:
                return
            self.controls.append({"tag": tag, "attrs": a, "in_label": self.label_depth > 0})
        elif tag == "button":
            self._button = {"attrs": a, "text": ""}

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth = max(0, self.label_depth - 1)
        elif tag == "button" and self._button is not None:
            self.buttons.append(self._button)
            self._button = None

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data


def unlabelled_controls(html: str) -> list[str]:
    """The controls and buttons of `html` without an accessible name (empty: all good)."""
    parser = _Controls()
    parser.feed(html)
    missing = []
    for c in parser.controls:
        a = c["attrs"]
        named = (
            c["in_label"]
            or (a.get("id") and a["id"] in parser.label_for)
            or a.get("aria-label", "").strip()
            or a.get("aria-labelledby", "").strip()
        )
        if not named:
            missing.append(f"<{c['tag']} name={a.get('name')!r} id={a.get('id')!r}>")
    for b in parser.buttons:
        if not (b["text"].strip() or b["attrs"].get("aria-label", "").strip()):
            missing.append(f"<button {b['attrs']}> without text")
    return missing
