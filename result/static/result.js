// Keeps the totals live: Server-Sent Events from /events, which the browser
// reconnects by itself after the service or the network comes back.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var byId = function (id) { return document.getElementById(id); };
  var problem = byId("problem");
  var source = new EventSource("/events");
  source.addEventListener("tally", function (event) {
    var t = JSON.parse(event.data);
    byId("name-a").textContent = t.option_a;
    byId("name-b").textContent = t.option_b;
    byId("percent-a").textContent = t.percent_a + "%";
    byId("percent-b").textContent = t.percent_b + "%";
    var bar = byId("bar");
    bar.value = t.percent_a;
    bar.setAttribute("aria-label", t.option_a + " " + t.percent_a + " percent, " +
      t.option_b + " " + t.percent_b + " percent");
    byId("total").textContent = t.label;
    var main = byId("results");
    main.dataset.a = t.a;
    main.dataset.b = t.b;
    problem.hidden = true;
  });
  source.addEventListener("unavailable", function (event) {
    problem.textContent = JSON.parse(event.data).error;
    problem.hidden = false;
  });
  source.addEventListener("error", function () {
    problem.textContent = "Reconnecting to the results\u2026";
    problem.hidden = false;
  });
})();
