// The console's behaviour: the live queue (server-sent events), time since capture counting up, overdue flags,
// keyboard shortcuts, and the decision and outcome forms, which call the API's own routes with the CSRF token.
(function () {
  "use strict";
  var meta = function (n) { var m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : ""; };
  var offset = (Number(meta("server-now")) || Date.now()) - Date.now();  // the server's clock, not the browser's
  var now = function () { return Date.now() + offset; };

  function tick() {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Number(el.dataset.since);
      if (!since) return;
      var s = Math.max(0, Math.floor((now() - since) / 1000));
      var m = Math.floor(s / 60);
      el.textContent = (m ? m + " min " : "") + (s % 60) + " s since capture";
    });
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Number(el.dataset.due);
      if (due && now() > due) {
        el.hidden = false;
        var row = el.closest(".row");
        if (row) row.classList.add("overdue");
      }
    });
  }

  function live() {
    var queue = document.getElementById("queue");
    if (!queue || !window.EventSource) return;
    var status = document.getElementById("feed-status");
    var source = new EventSource(queue.dataset.live);
    source.addEventListener("queue", function (ev) {
      var focused = document.activeElement && document.activeElement.id;
      queue.innerHTML = ev.data;
      if (focused) { var el = document.getElementById(focused); if (el) el.focus(); }
      tick();
      status.textContent = "Live: the queue updates by itself.";
    });
    source.addEventListener("signed-out", function () { source.close(); window.location.href = "/console/login"; });
    source.onerror = function () { status.textContent = "Connection lost: trying again…"; };
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".queue .open")); }
  function move(step) {
    var list = rows(); if (!list.length) return;
    var i = list.indexOf(document.activeElement);
    list[Math.min(list.length - 1, Math.max(0, i < 0 ? 0 : i + step))].focus();
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target.tagName;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || t === "INPUT" || t === "TEXTAREA" || t === "SELECT") return;
    var k = ev.key, go = function (id) { var el = document.getElementById(id) || document.querySelector(id); if (el) { el.focus(); ev.preventDefault(); } };
    if (k === "j" || k === "ArrowDown") { if (rows().length) { move(1); ev.preventDefault(); } }
    else if (k === "k" || k === "ArrowUp") { if (rows().length) { move(-1); ev.preventDefault(); } }
    else if (k === "d") go('#decision-form input[name="disposition"]');
    else if (k === "p") go("typed-plate");
    else if (k === "q") window.location.href = "/console";
    else if (k === "o") window.location.href = "/console/overdue";
  });

  var plain = function (s) { return (s || "").toUpperCase().replace(/[\s.\-·]/g, ""); };

  function say(el, text, ok) { el.textContent = text; el.className = "result " + (ok ? "ok" : "error"); }

  function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta("csrf-token") },
      body: JSON.stringify(body),
    }).then(function (r) { return r.json().then(function (doc) { return { status: r.status, doc: doc }; }); });
  }

  function decisions() {
    var hit = document.getElementById("hit");
    var form = document.getElementById("decision-form");
    if (!hit || !form) return;
    var result = document.getElementById("decision-result");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var chosen = form.querySelector('input[name="disposition"]:checked');
      if (!chosen) { say(result, "Choose what you found first.", false); return; }
      var body = { disposition: chosen.value }, note = form.note.value.trim();
      if (note) body.note = note;
      if (chosen.value === "other" && !note) { say(result, "“Other” needs a note saying what you found.", false); form.note.focus(); return; }
      if (chosen.value === "confirmed") {
        var names = ["plate_matches_image", "region_matches_image", "entry_active"], checks = {};
        var missing = names.filter(function (n) { return !form[n].checked; });
        if (missing.length) { say(result, "To confirm, tick each of the three checks.", false); form[missing[0]].focus(); return; }
        if (hit.dataset.misread === "yes") {
          var typed = plain(form.typed_plate.value), entry = hit.dataset.entryPlate;
          if (!typed) { say(result, "Possible misread: type the plate you see in the image before confirming.", false); form.typed_plate.focus(); return; }
          if (typed !== entry) { say(result, "The plate you typed is not the entry's plate: this is not a confirmed hit.", false); form.typed_plate.focus(); return; }
          checks.each_character_compared = true;  // the API refuses a possible misread's confirmation without it
        }
        names.forEach(function (n) { checks[n] = true; });
        body.checks = checks;
      }
      form.querySelector("button").disabled = true;
      post("/v1/hits/" + encodeURIComponent(hit.dataset.hit) + "/verification", body).then(function (r) {
        if (r.status === 202) {
          say(result, "Recorded: " + chosen.value + ". The hit leaves every operator's queue.", true);
          form.hidden = true;
          if (chosen.value === "confirmed") document.getElementById("outcome").hidden = false;
        } else {
          form.querySelector("button").disabled = false;
          say(result, "Not recorded: " + (r.doc.error || ("status " + r.status)), false);
        }
      }, function () { form.querySelector("button").disabled = false; say(result, "Not recorded: the API cannot be reached.", false); });
    });
  }

  function outcomes() {
    var hit = document.getElementById("hit"), form = document.getElementById("outcome-form");
    if (!hit || !form) return;
    var result = document.getElementById("outcome-result");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!form.outcome.value) { say(result, "Choose an outcome first.", false); return; }
      var body = { outcome: form.outcome.value }, note = form.note.value.trim();
      if (note) body.note = note;
      post("/v1/hits/" + encodeURIComponent(hit.dataset.hit) + "/outcome", body).then(function (r) {
        say(result, r.status === 202 ? "Recorded outcome: " + body.outcome + "." : "Not recorded: " + (r.doc.error || r.status), r.status === 202);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var go = document.querySelector("[data-go]");
    if (go) { window.location.replace(go.getAttribute("href")); return; }
    tick(); setInterval(tick, 1000); live(); decisions(); outcomes();
  });
})();
