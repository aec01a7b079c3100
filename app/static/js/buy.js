// The checkout drawer: close it without a page load; hide no-JS-only controls.
document.documentElement.classList.add("js");
document.addEventListener("click", function (event) {
  var close = event.target.closest("[data-drawer-close]");
  var drawer = close && close.closest(".drawer-open");
  if (drawer) {
    event.preventDefault();
    drawer.remove();
  }
});
