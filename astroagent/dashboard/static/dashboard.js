// astroagent dashboard: the live success chart (a poll of a small JSON fragment; 304 while nothing changed).
(function () {
  "use strict";
  var box = document.getElementById("success-chart");
  var live = document.getElementById("live");
  if (!box || !live) { return; }
  var stamp = live.getAttribute("data-stamp");
  var done = parseInt(live.getAttribute("data-experiments"), 10) || 0;   // experiments so far (the history is trimmed)
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
        var marks = count("a.mark"), added = doc.experiments - done;
        stamp = doc.stamp;
        done = doc.experiments;
        box.innerHTML = doc.svg;
        markNew("circle.pt", Math.max(0, count("circle.pt") - added));
        markNew("a.mark", marks);
        var versions = document.getElementById("versions");
        if (versions) { versions.innerHTML = doc.versions; }
        document.getElementById("live-points").textContent = doc.experiments;
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
