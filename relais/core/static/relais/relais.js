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
