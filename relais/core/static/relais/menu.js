// The header menu folds behind "Menu" on a phone; on a wide screen it stays open and its
// toggle is hidden (CSS). Without JavaScript the toggle still opens it (native <details>).
(function () {
  "use strict";
  var wide = window.matchMedia("(min-width: 60rem)");
  function sync() {
    document.querySelectorAll("details[data-menu]").forEach(function (menu) {
      menu.open = wide.matches;
    });
  }
  document.addEventListener("DOMContentLoaded", sync);
  if (wide.addEventListener) { wide.addEventListener("change", sync); }
})();
