// Operator console behaviours (issue 18). No inline script, no external asset.
(() => {
  "use strict";

  // --- Worklist: count badge, title, alert (visible; audible on request) on a newcomer ---
  const SEEN_KEY = "relais.worklist.alarms";
  const SOUND_KEY = "relais.worklist.sound";

  function beep() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      const ctx = new Ctx();
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no audio: the visible alert remains */ }
  }

  function worklistUpdated(live) {
    const count = document.getElementById("worklist-count");
    if (count) count.textContent = live.dataset.openCount;
    const total = Number(live.dataset.openCount) + Number(live.dataset.regulateCount);
    document.title = document.title.replace(/^\(\d+\) /, "");
    if (total) document.title = `(${total}) ${document.title}`;
    const alarms = (live.dataset.alarms || "").split(" ").filter(Boolean);
    const known = sessionStorage.getItem(SEEN_KEY);
    const seen = new Set(known ? JSON.parse(known) : []);
    const fresh = known === null ? [] : alarms.filter((ref) => !seen.has(ref));
    sessionStorage.setItem(SEEN_KEY, JSON.stringify(alarms));
    if (!fresh.length) return;
    const box = document.getElementById("worklist-alert");
    if (box) {
      box.textContent = `Nouvelle demande avec signe de gravité ou priorité P0/P1 : ${fresh.join(", ")}.`;
      box.hidden = false;
    }
    if (localStorage.getItem(SOUND_KEY) === "1") beep();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const live = document.getElementById("worklist-live");
    if (live) worklistUpdated(live);
    const sound = document.getElementById("worklist-sound");
    if (sound) {
      sound.checked = localStorage.getItem(SOUND_KEY) === "1";
      sound.addEventListener("change", () => {
        localStorage.setItem(SOUND_KEY, sound.checked ? "1" : "0");
        if (sound.checked) beep();
      });
    }
    holdsTick();
    focusErrorSummary();
  });

  document.addEventListener("htmx:afterSettle", (event) => {
    const live = document.getElementById("worklist-live");
    if (live) worklistUpdated(live); // the poll's outerHTML swap replaced the element
    holdsTick();
  });

  // --- Holds: the remaining time counts down and the hold visibly ends -----------------
  let holdTimer = null;
  function holdsTick() {
    const notes = document.querySelectorAll("[data-hold-until]");
    if (!notes.length) return;
    const now = Date.now();
    notes.forEach((note) => {
      const left = Math.round((Date.parse(note.dataset.holdUntil) - now) / 1000);
      const row = note.closest("tr");
      if (left <= 0) {
        note.textContent = "Retenue expirée : le créneau peut être pris par un autre opérateur.";
        note.classList.add("hold-ended");
        note.removeAttribute("data-hold-until");
        if (row) {
          row.classList.remove("held");
          const confirm = row.querySelector("[data-book-button]");
          if (confirm) confirm.textContent = "Réserver";
        }
        return;
      }
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      note.textContent = `Retenu pour vous encore ${minutes} min ${seconds} s`;
    });
    clearTimeout(holdTimer);
    if (document.querySelector("[data-hold-until]")) holdTimer = setTimeout(holdsTick, 1000);
  }

  // --- Forms: the error summary at the top takes the focus ---------------------------
  function focusErrorSummary() {
    const summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }
})();

// --- The call in few keystrokes (issue 18, item 2) ------------------------------------
(() => {
  "use strict";
  const form = () => document.querySelector("form[data-intake]");
  const typing = (el) => el && (el.matches("input, textarea, select") || el.isContentEditable);

  // Known patients: ↓ from the name goes to the choices; Enter takes the highlighted one
  // (fills the identity, goes on to the motif) and never submits the form.
  function takePatient(radio) {
    radio.checked = true;
    const f = form();
    if (radio.value === "new") {
      const first = document.getElementById("id_first_name");
      if (first) first.focus();
      return;
    }
    const fields = {
      id_last_name: "lastName", id_first_name: "firstName", id_birth_date: "birthDate",
      id_phone: "phone", id_commune: "commune",
    };
    for (const [id, key] of Object.entries(fields)) {
      const input = document.getElementById(id);
      if (input && radio.dataset[key] && !(id === "id_phone" && input.value)) {
        input.value = radio.dataset[key];
      }
    }
    const motif = f && f.querySelector("#id_motif_text");
    if (motif) motif.focus();
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const f = form();
    if (!f || !f.contains(target)) return;
    // Ctrl+Entrée: submit the request from anywhere in the form.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      f.requestSubmit();
      return;
    }
    if (target.id === "id_last_name" && event.key === "ArrowDown") {
      const first = document.querySelector("#patient-matches input[name=patient_choice]");
      if (first) {
        event.preventDefault();
        first.focus();
        first.checked = true;
      }
      return;
    }
    if (target.name === "patient_choice" && event.key === "Enter") {
      event.preventDefault();
      takePatient(target);
      return;
    }
    if (target.name === "patient_choice" && event.key === "ArrowUp") {
      const radios = [...document.querySelectorAll("#patient-matches input[name=patient_choice]")];
      if (radios[0] === target) {
        event.preventDefault();
        document.getElementById("id_last_name").focus();
      }
    }
  });
  document.addEventListener("click", (event) => {
    const radio = event.target.closest("#patient-matches input[name=patient_choice]");
    if (radio && event.detail > 0) takePatient(radio);
  });

  // Comboboxes (commune): the options htmx puts in the datalist are shown as a listbox;
  // ↓/↑ move the highlight, Enter picks the highlighted one (the first if none) and goes
  // to the next field, and never submits the form.
  function comboParts(input) {
    return {
      input,
      list: document.getElementById(input.getAttribute("aria-controls")),
      source: document.getElementById(input.dataset.combobox),
    };
  }
  function comboRender(input) {
    const { list, source } = comboParts(input);
    if (!list || !source) return;
    const values = [...source.querySelectorAll("option")].map((o) => o.value).filter(Boolean);
    list.innerHTML = "";
    values.forEach((value, i) => {
      const li = document.createElement("li");
      li.id = `${list.id}-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = value;
      list.appendChild(li);
    });
    const open = values.length > 0 && !values.includes(input.value);
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
    if (open) comboMove(input, 0); // the first is highlighted: what Enter takes
  }
  function comboMove(input, delta) {
    const { list } = comboParts(input);
    const items = [...list.querySelectorAll("li")];
    if (!items.length || list.hidden) return false;
    let index = items.findIndex((li) => li.getAttribute("aria-selected") === "true");
    index = Math.max(0, Math.min(items.length - 1, index + delta));
    items.forEach((li, i) => li.setAttribute("aria-selected", i === index ? "true" : "false"));
    input.setAttribute("aria-activedescendant", items[index].id);
    items[index].scrollIntoView({ block: "nearest" });
    return true;
  }
  function comboPick(input, li) {
    const { list } = comboParts(input);
    input.value = li.textContent;
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    const fields = [...form().querySelectorAll("input:not([type=hidden]), select, textarea")];
    const next = fields[fields.indexOf(input) + 1];
    if (next) next.focus();
  }
  document.addEventListener("keydown", (event) => {
    const input = event.target.closest && event.target.closest("input[data-combobox]");
    if (!input) return;
    const { list } = comboParts(input);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (comboMove(input, event.key === "ArrowDown" ? 1 : -1)) event.preventDefault();
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault(); // never submits from here
      const items = [...list.querySelectorAll("li")];
      const chosen = items.find((li) => li.getAttribute("aria-selected") === "true") || items[0];
      if (chosen && !list.hidden) comboPick(input, chosen);
    } else if (event.key === "Escape") {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }
  });
  document.addEventListener("mousedown", (event) => {
    const li = event.target.closest(".listbox li");
    if (!li) return;
    const input = document.querySelector(`[aria-controls="${li.parentElement.id}"]`);
    if (input) {
      event.preventDefault();
      comboPick(input, li);
    }
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    const swapped = (event.detail && event.detail.target) || event.target;
    document.querySelectorAll("input[data-combobox]").forEach((input) => {
      if (swapped.id === input.dataset.combobox) comboRender(input);
    });
    // The request page: the top-ranked slot's button takes the focus when the slots load.
    if (swapped.id === "slots" && !typing(document.activeElement)) {
      const top = document.querySelector("#slots [data-book-top]");
      if (top) top.focus();
    }
  });

  // Request page: "r" books the top-ranked slot (htmx asks for confirmation), "e" widens.
  document.addEventListener("keydown", (event) => {
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "r") {
      const top = document.querySelector("#slots [data-book-top]");
      if (top) {
        event.preventDefault();
        top.click();
      }
    } else if (event.key === "e") {
      const widen = document.querySelector("#slots input[name=widen]");
      if (widen) {
        event.preventDefault();
        widen.click();
      }
    }
  });
})();

// Alt+N opens "Nouvelle demande" on the console pages, whatever the browser's access-key
// modifier (Chromium on Linux: Alt; Firefox: Alt+Shift; headless: none).
document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey || event.key.toLowerCase() !== "n") return;
  const link = document.querySelector("a[accesskey=n]");
  if (link) {
    event.preventDefault();
    window.location.assign(link.href);
  }
});
