// Relais: the few behaviours htmx does not cover. No inline scripts (CSP-friendly).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-motif-code]");
  if (!button) return;
  const select = document.getElementById("id_motif");
  if (select) {
    select.value = button.dataset.motifCode;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    select.focus();
  }
});

// Taking up a known patient in the intake form: fill the identity fields.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-patient]");
  if (!button) return;
  const fields = {
    id_last_name: "lastName", id_first_name: "firstName", id_birth_date: "birthDate",
    id_phone: "phone", id_commune: "commune", id_medecin_traitant: "medecin",
  };
  for (const [id, key] of Object.entries(fields)) {
    const input = document.getElementById(id);
    if (input && button.dataset[key]) input.value = button.dataset[key];
  }
  document.getElementById("patient-matches").innerHTML = "";
  const motif = document.getElementById("id_motif_text");
  if (motif) motif.focus();
});

// Forms that ask before doing something irreversible: <form data-confirm="…">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
