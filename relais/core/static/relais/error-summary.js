// The error summary at the top of a public form (regulation/web/form.html) takes the
// focus when the page comes back with errors, so a phone shows it first and a screen
// reader reads it; each link moves the focus to its field.
(() => {
  "use strict";
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  summary.focus();
  summary.scrollIntoView({ block: "start" });
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    const field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus();
  });
})();
