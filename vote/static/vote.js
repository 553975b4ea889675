// Votes without reloading the page; the form still works without this script.
(function () {
  "use strict";
  var form = document.getElementById("choice");
  var status = document.getElementById("status");
  if (!form || !window.fetch) { return; }
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || !button.value) { return; }
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch("/", {
      method: "POST",
      headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: "vote=" + encodeURIComponent(button.value),
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      var old = document.getElementById("problem");
      if (old) { old.remove(); }
      if (!result.ok) { throw new Error(result.body.error || "Your vote may not have been recorded; please vote again."); }
      buttons.forEach(function (b) {
        var chosen = b.value === result.body.vote;
        b.classList.toggle("chosen", chosen);
        b.setAttribute("aria-pressed", String(chosen));
        b.querySelector(".check").textContent = chosen ? " \u2713" : "";
      });
      status.textContent = "You voted for " + button.querySelector(".label").textContent + ".";
    }).catch(function (error) {
      var problem = document.createElement("p");
      problem.id = "problem";
      problem.setAttribute("role", "alert");
      problem.textContent = error.message || "Your vote may not have been recorded; please vote again.";
      status.after(problem);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();
