/* Alert box: one alert at a time, queued so alerts never overlap. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var SHOW_MS = parseInt(params.get("duration") || "5000", 10);
  var LEAVE_MS = 350;
  var MAX_QUEUE = 100;  // beyond this the oldest waiting alert is dropped (a raid of follows)
  var box = document.getElementById("alert");
  var queue = [];
  var busy = false;
  window.alertsShown = [];

  function showNext() {
    if (busy || queue.length === 0) return;
    busy = true;
    var alert = queue.shift();
    box.dataset.kind = alert.kind;
    box.querySelector(".title").textContent = alert.title;
    box.querySelector(".detail").textContent = alert.detail;
    box.className = "showing";
    window.alertsShown.push(alert.title);
    setTimeout(function () {
      box.className = "showing leaving";
      setTimeout(function () { box.className = ""; busy = false; showNext(); }, LEAVE_MS);
    }, SHOW_MS);
  }

  var sc = StreamCore.connect({
    events: params.get("events") || "alert.*",
    onStatus: function (state, detail) {
      var status = document.getElementById("status");
      status.className = "status " + state;
      status.textContent = state === "failed" ? "StreamCore: " + (detail.reason || "refused") : state;
    },
  });
  sc.on("alert.*", function (data, envelope) {
    if (queue.length >= MAX_QUEUE) queue.shift();
    queue.push(StreamCoreDescribe.describe(envelope));
    showNext();
  });
  window.streamcore = sc;
})();
