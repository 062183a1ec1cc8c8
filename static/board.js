// Progressive enhancement for the eight digit boxes. The form works without this file.
// - typing a digit moves to the next box; Backspace in an empty box goes back;
// - pasting 8 digits into any box fills all eight.
(function () {
  "use strict";
  function init() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input.digit"));
    if (boxes.length !== 8) return;
    boxes.forEach(function (box, i) {
      box.addEventListener("input", function () {
        var digits = box.value.replace(/[^0-9]/g, "");
        if (digits.length > 1) { fill(digits, i); return; }
        box.value = digits;
        if (digits.length === 1 && i < boxes.length - 1) boxes[i + 1].focus();
      });
      box.addEventListener("keydown", function (event) {
        if (event.key === "Backspace" && box.value === "" && i > 0) {
          event.preventDefault();
          boxes[i - 1].value = "";
          boxes[i - 1].focus();
        } else if (event.key === "ArrowLeft" && i > 0) {
          boxes[i - 1].focus();
        } else if (event.key === "ArrowRight" && i < boxes.length - 1) {
          boxes[i + 1].focus();
        }
      });
      box.addEventListener("paste", function (event) {
        var text = (event.clipboardData || window.clipboardData).getData("text") || "";
        var digits = text.replace(/\s/g, "");
        if (/^[0-9]{8}$/.test(digits)) {
          event.preventDefault();
          fill(digits, 0);
        }
      });
    });
    function fill(digits, start) {
      for (var k = 0; k < digits.length && start + k < boxes.length; k++) boxes[start + k].value = digits[k];
      boxes[Math.min(start + digits.length, boxes.length) - 1].focus();
    }
    var summary = document.getElementById("error-summary");
    var firstInvalid = document.querySelector("[aria-invalid=true]");
    if (firstInvalid) firstInvalid.focus(); else if (summary) summary.focus();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
