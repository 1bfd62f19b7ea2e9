// Motifs of a weekly rule chosen by label: a search box filters the checkbox list
// (accents and case ignored). Without JavaScript the whole list stays usable.
(function () {
  "use strict";
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#id_motifs").forEach(function (list) {
      var box = document.createElement("input");
      box.type = "search";
      box.placeholder = "Rechercher un motif (ex. otite, fièvre)";
      box.setAttribute("aria-label", "Rechercher un motif");
      box.className = "motif-search";
      list.parentNode.insertBefore(box, list);
      box.addEventListener("input", function () {
        var wanted = fold(box.value.trim());
        list.querySelectorAll("label").forEach(function (label) {
          var row = label.parentNode.tagName === "DIV" ? label.parentNode : label;
          var checked = label.querySelector("input:checked");
          row.hidden = wanted !== "" && !checked && fold(label.textContent).indexOf(wanted) < 0;
        });
      });
    });
  });
})();
