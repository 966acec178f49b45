// astroagent dashboard: the live success chart (a poll of a small JSON fragment; 304 while nothing changed).
(function () {
  "use strict";
  var box = document.getElementById("success-chart");
  var live = document.getElementById("live");
  if (!box || !live) { return; }
  var stamp = live.getAttribute("data-stamp");
  var busy = false;

  function count(selector) { return box.querySelectorAll(selector).length; }

  function markNew(selector, before) {
    var all = box.querySelectorAll(selector);
    for (var i = before; i < all.length; i++) { all[i].classList.add("new"); }
  }

  function poll() {
    if (busy) { return; }
    busy = true;
    fetch("/fragments/success", { headers: { "If-None-Match": '"' + stamp + '"' }, cache: "no-store",
                                  credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.json() : null; })
      .then(function (doc) {
        if (!doc) { return; }
        var points = count("circle.pt"), marks = count("a.mark");
        stamp = doc.stamp;
        box.innerHTML = doc.svg;
        markNew("circle.pt", points);
        markNew("a.mark", marks);
        var versions = document.getElementById("versions");
        if (versions) { versions.innerHTML = doc.versions; }
        document.getElementById("live-points").textContent = doc.points;
        var added = doc.points - points;
        document.getElementById("live-updated").textContent =
          "updated " + new Date().toLocaleTimeString() + (added > 0 ? " (+" + added + ")" : "");
        live.classList.add("pulse");
        setTimeout(function () { live.classList.remove("pulse"); }, 600);
      })
      .catch(function () { document.getElementById("live-updated").textContent = "dashboard unreachable"; })
      .then(function () { busy = false; });
  }
  setInterval(poll, 1000);
})();
