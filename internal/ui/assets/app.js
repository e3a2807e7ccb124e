// gantry web view: small enhancements over pages that work without them.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Filter a table as the search box is typed in; the form still submits
  // to the server, which filters the same way.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.querySelector(input.getAttribute("data-filter"));
    var count = document.getElementById("count");
    if (!table) return;
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase(), n = 0;
      table.querySelectorAll("tbody tr[data-name]").forEach(function (tr) {
        var show = tr.getAttribute("data-name").toLowerCase().indexOf(q) >= 0;
        tr.hidden = !show;
        if (show) n++;
      });
      if (count) count.textContent = String(n);
    });
  });
  // Submit the sort choice at once.
  var sort = document.getElementById("sort");
  if (sort && sort.form) sort.addEventListener("change", function () { sort.form.submit(); });
  // While images are being analyzed, keep their count current from the
  // page's own JSON.
  var pending = document.querySelector("[data-pending]");
  if (pending) {
    var poll = function () {
      fetch(location.href, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          if (p.pending > 0) {
            pending.textContent = p.pending + " images not yet analyzed.";
            setTimeout(poll, 5000);
          } else {
            pending.textContent = "All images analyzed.";
          }
        })
        .catch(function () {});
    };
    setTimeout(poll, 5000);
  }
});
