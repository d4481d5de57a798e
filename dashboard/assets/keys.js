/* The dashboard's overlay URLs and client keys (create with a scope and the actions it may
 * call, show once, list, revoke). */
(function (global) {
  "use strict";

  var D = global.SCDashboard;
  var $ = D.$, el = D.el, clear = D.clear, api = D.api, notify = D.notify, problem = D.problem;
  var renderOnce = D.renderOnce, cell = D.cell, when = D.when, copy = D.copy;

  var OVERLAYS = [
    { name: "Alert box", path: "/overlays/alerts.html" },
    { name: "Chat box", path: "/overlays/chat.html" },
    { name: "Event feed", path: "/overlays/feed.html" },
  ];
  var SCOPE_CHOICES = [
    { label: "Alerts", value: "alert.*" },
    { label: "Chat", value: "chat.*" },
    { label: "Redemptions", value: "redemption" },
    { label: "Stream on/off", value: "stream.*" },
    { label: "Hype train", value: "hype_train.*" },
  ];
  // -- overlays and keys --------------------------------------------------------------------

  function overlayUrl(path) {
    var key = $("overlay-key").value.trim();
    return window.location.origin + path + (key ? "?key=" + encodeURIComponent(key) : "");
  }


  function renderOverlays() {
    var list = $("overlay-urls");
    clear(list);
    OVERLAYS.forEach(function (overlay) {
      var url = overlayUrl(overlay.path);
      var item = el("li");
      item.appendChild(el("span", overlay.name));
      var link = el("a", url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      item.appendChild(link);
      var button = el("button", "Copy", "btn small");
      button.type = "button";
      button.setAttribute("aria-label", "Copy the " + overlay.name + " URL");
      button.addEventListener("click", function () { copy(url, overlay.name + " URL"); });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  function renderScopeChoices() {
    var box = $("key-scopes");
    SCOPE_CHOICES.forEach(function (choice, index) {
      var label = el("label");
      var input = document.createElement("input");
      input.type = "checkbox";
      input.value = choice.value;
      input.id = "scope-" + index;
      label.htmlFor = input.id;
      label.appendChild(input);
      label.appendChild(document.createTextNode(choice.label));
      box.appendChild(label);
    });
  }

  /** A key's channels: "*" (or nothing, keys made before channels) is every channel; ids are
   * shown as logins when the channels card knows them. */
  function channelsText(text) {
    if (!text || text === "*") return "all channels";
    var known = D.channels && D.channels.loginOf;
    return String(text).split(",").map(function (id) {
      return (known && known(id)) || id;
    }).join(", ");
  }

  function loadKeys() {
    return api("GET", "/keys").then(function (result) {
      var keys = result.ok && Array.isArray(result.data) ? result.data : [];
      $("keys-empty").hidden = keys.length > 0;
      if (!result.ok) $("keys-empty").textContent = "Keys unavailable: " + problem(result);
      var shown = [keys, keys.map(function (record) { return channelsText(record.channels); })];
      renderOnce("keys", shown, $("keys").tBodies[0], function (body) {
        keys.forEach(function (record) {
          var row = el("tr");
          row.dataset.key = record.name;
          cell(row, record.name);
          cell(row, record.id, "mono");
          cell(row, record.events || "all events", "mono");
          cell(row, channelsText(record.channels), "mono");
          cell(row, record.actions || "none", "mono");
          cell(row, when(record.created_at));
          var button = el("button", "Revoke", "btn small danger");
          button.type = "button";
          button.setAttribute("aria-label", "Revoke key " + record.name);
          button.addEventListener("click", function () { revokeKey(record, button); });
          cell(row, "").appendChild(button);
          body.appendChild(row);
        });
      });
    });
  }

  function createKey(event) {
    event.preventDefault();
    var scopes = [];
    Array.prototype.forEach.call($("key-scopes").querySelectorAll("input:checked"), function (input) {
      scopes.push(input.value);
    });
    var extra = $("key-extra").value.trim();
    if (extra) scopes.push(extra);
    var name = $("key-name").value.trim();
    // Patterns of the actions the key may call ("chat.send,shoutout"); empty: none.
    var actions = $("key-actions").value.split(",").map(function (s) { return s.trim(); })
      .filter(function (s) { return s !== ""; }).join(",");
    api("POST", "/keys", { name: name, events: scopes.join(","), actions: actions }).then(function (result) {
      if (!result.ok) { notify("Key not created: " + problem(result), "bad"); return; }
      $("new-key-value").textContent = result.data.key;
      $("new-key").hidden = false;
      $("overlay-key").value = result.data.key;
      renderOverlays();
      $("key-form").reset();
      notify("Key " + result.data.name + " created; the overlay URLs now carry it" +
        (result.data.actions ? "; it may call " + result.data.actions + "." : "."), "ok");
      loadKeys();
    });
  }

  function revokeKey(record, button) {
    if (!window.confirm("Revoke the key " + record.name + "? Overlays using it stop receiving events.")) return;
    button.disabled = true;
    api("DELETE", "/keys/" + encodeURIComponent(record.id)).then(function (result) {
      if (result.ok) notify("Key " + record.name + " revoked.", "ok");
      else { button.disabled = false; notify("Could not revoke: " + problem(result), "bad"); }
      loadKeys();
    });
  }


  function init() {
    $("key-form").addEventListener("submit", createKey);
    $("overlay-key").addEventListener("input", renderOverlays);
    $("new-key-copy").addEventListener("click", function () { copy($("new-key-value").textContent, "Key"); });
    renderScopeChoices();
    renderOverlays();
    return loadKeys();
  }

  D.keys = { init: init, load: loadKeys };
})(window);
