// bayestrial: small enhancements only; every page works without this file.
(function () {
  "use strict";
  // The protocol editor: show a chosen file's text in the text area before submitting.
  var file = document.getElementById("protocol-file");
  var text = document.getElementById("protocol");
  if (file && text && window.FileReader) {
    file.addEventListener("change", function () {
      if (!file.files || !file.files[0]) return;
      var reader = new FileReader();
      reader.onload = function () { text.value = reader.result; };
      reader.readAsText(file.files[0]);
    });
  }
  // Ask before irreversible actions (forms marked data-confirm).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
