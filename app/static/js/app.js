// Sends the CSRF token from the meta tag with every htmx request.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRFToken"] = meta.content;
  }
});

// Code samples scroll sideways on narrow screens: make each reachable from the keyboard
// (a scrollable region needs focus to be scrolled without a mouse). Runs for swapped content too.
document.addEventListener("htmx:load", function (event) {
  var root = event.detail.elt;
  var blocks = root.matches && root.matches("pre") ? [root] : Array.prototype.slice.call(root.querySelectorAll("pre"));
  blocks.forEach(function (pre) {
    if (!pre.hasAttribute("tabindex")) {
      pre.tabIndex = 0;
    }
  });
});
