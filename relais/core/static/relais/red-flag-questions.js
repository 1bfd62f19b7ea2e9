// Red-flag confirming questions at intake (regulation/_red_flag_questions.html):
// answerable from the keyboard. Inside a question, "o" = oui, "n" = non, "i" = ne sait
// pas; the answer is checked and focus goes to the next question (arrows work natively
// inside each radio group).
(function () {
  "use strict";
  var KEYS = { o: "oui", n: "non", i: "nsp" };
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target || !target.closest || event.ctrlKey || event.metaKey || event.altKey) return;
    var group = target.closest("fieldset.rfq");
    if (!group) return;
    var value = KEYS[(event.key || "").toLowerCase()];
    if (!value) return;
    var radio = group.querySelector('input[type="radio"][value="' + value + '"]');
    if (!radio) return;
    event.preventDefault();
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    var groups = Array.prototype.slice.call(document.querySelectorAll("fieldset.rfq"));
    var next = groups[groups.indexOf(group) + 1];
    (next ? next.querySelector('input[type="radio"]') : radio).focus();
  });
})();
