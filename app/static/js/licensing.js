// License pages: "Copy" buttons next to keys and snippets. Without JS the key stays selectable text.
(function () {
  if (window.tradepostLicensingCopy) {
    return;  // htmx may run this file again after a boosted navigation: bind once
  }
  window.tradepostLicensingCopy = true;

  function flash(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var value = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { flash(button, "Copied"); },
                                                function () { flash(button, "Press Ctrl+C"); });
      return;
    }
    var area = document.createElement("textarea");
    area.value = value;
    area.setAttribute("readonly", "");
    area.className = "lic-offscreen";
    document.body.appendChild(area);
    area.select();
    var copied = document.execCommand("copy");
    document.body.removeChild(area);
    flash(button, copied ? "Copied" : "Press Ctrl+C");
  });
})();
