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
    if (live && (event.target === live || event.target.id === "worklist-live")) worklistUpdated(live);
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
