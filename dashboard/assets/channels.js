/*
 * The dashboard's channels: the broadcasters who authorized StreamCore (GET /channels, the
 * default channel first), adding one (POST /channels: a link and a device code, then polling
 * until it arrives), re-authorizing one, removing one (DELETE /channels/{id}), and per channel
 * its overlay URLs (?channel=<login>) with a client key bound to that channel (POST /keys).
 *
 * Logins and display names are chosen by the broadcasters: like everything else they reach the
 * page through textContent and attributes only (common.js).
 */
(function (global) {
  "use strict";

  var D = global.SCDashboard;
  var $ = D.$, el = D.el, pill = D.pill, clear = D.clear, dash = D.dash, when = D.when;
  var api = D.api, notify = D.notify, problem = D.problem, renderOnce = D.renderOnce;
  var cell = D.cell, copy = D.copy;

  /** How often the channels are read again (their subscriptions and clients change). */
  var CHANNELS_POLL_MS = 5000;
  /** While an authorization is under way, the list is read at the device code's interval,
   * within these bounds. */
  var ADD_POLL_MIN_MS = 1000;
  var ADD_POLL_MAX_MS = 5000;
  var OVERLAYS = [
    { name: "Alert box", path: "/overlays/alerts.html" },
    { name: "Chat box", path: "/overlays/chat.html" },
    { name: "Event feed", path: "/overlays/feed.html" },
  ];

  var channels = [];
  /** Keys bound to one channel, made on this page (by channel id): put into its overlay URLs. */
  var channelKeys = {};
  /** The channels whose overlay URLs are unfolded (by id), kept across re-renders. */
  var unfolded = {};
  var pollTimer = null;
  /** The ids and logins last listed (the keys table shows bound channels by login). */
  var knownNames = null;
  /** The authorization under way: { flow, known ids, target channel, deadline, timer }. */
  var pending = null;

  function safeHref(url) {
    return /^https?:\/\//i.test(String(url || "")) ? String(url) : "#";
  }

  function loginOf(id) {
    for (var i = 0; i < channels.length; i++) if (channels[i].id === id) return channels[i].login;
    return null;
  }

  // -- overlay URLs ----------------------------------------------------------------------

  /** The key in a channel's overlay URLs: one bound to it made here, else the page's key. */
  function keyFor(channel) {
    return channelKeys[channel.id] || $("overlay-key").value.trim();
  }

  function overlayUrl(path, channel) {
    var key = keyFor(channel);
    return window.location.origin + path + "?" + (key ? "key=" + encodeURIComponent(key) + "&" : "") +
      "channel=" + encodeURIComponent(channel.login);
  }

  function overlayList(channel) {
    var details = el("details", null, "channel-overlays");
    details.open = !!unfolded[channel.id];
    details.addEventListener("toggle", function () { unfolded[channel.id] = details.open; });
    var summary = el("summary", "Overlay URLs");
    summary.setAttribute("aria-label", "Overlay URLs for " + channel.login);
    details.appendChild(summary);
    var list = el("ul", null, "url-list compact");
    OVERLAYS.forEach(function (overlay) {
      var url = overlayUrl(overlay.path, channel);
      var item = el("li");
      item.dataset.overlay = overlay.path;
      item.appendChild(el("span", overlay.name));
      var link = el("a", url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      item.appendChild(link);
      var button = el("button", "Copy", "btn small");
      button.type = "button";
      button.setAttribute("aria-label", "Copy the " + overlay.name + " URL of " + channel.login);
      button.addEventListener("click", function () { copy(url, overlay.name + " URL of " + channel.login); });
      item.appendChild(button);
      list.appendChild(item);
    });
    details.appendChild(list);
    var foot = el("p", null, "hint");
    if (channelKeys[channel.id]) {
      foot.textContent = "With a key bound to " + channel.login + ": it receives only this channel's events.";
    } else {
      foot.appendChild(document.createTextNode(
        keyFor(channel) ? "With the key chosen above (Overlays for OBS). " : "Without a key, these work on this machine only. "));
      var make = el("button", "Key for this channel", "btn small");
      make.type = "button";
      make.setAttribute("aria-label", "New client key bound to " + channel.login);
      make.addEventListener("click", function () { makeChannelKey(channel, make); });
      foot.appendChild(make);
    }
    details.appendChild(foot);
    return details;
  }

  /** A client key bound to this channel (POST /keys with channels: [login]), shown once and
   * put into the channel's overlay URLs. */
  function makeChannelKey(channel, button) {
    var base = (channel.login + " overlays").slice(0, 64);
    button.disabled = true;
    var attempt = function (name, retry) {
      return api("POST", "/keys", { name: name, events: "", channels: [channel.login] }).then(function (result) {
        if (!result.ok && retry && /exists/i.test(problem(result))) {
          return attempt((channel.login.slice(0, 50) + " " + Date.now().toString(36)).slice(0, 64), false);
        }
        return result;
      });
    };
    attempt(base, true).then(function (result) {
      button.disabled = false;
      if (!result.ok) { notify("Key not created: " + problem(result), "bad"); return; }
      channelKeys[channel.id] = result.data.key;
      unfolded[channel.id] = true;
      $("channel-key-name").textContent = result.data.name;
      $("channel-key-value").textContent = result.data.key;
      $("channel-key").hidden = false;
      notify("Key " + result.data.name + " created for " + channel.login + "; its overlay URLs now carry it.", "ok");
      render();
      if (D.keys && D.keys.load) D.keys.load();
    }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
  }

  // -- the table ----------------------------------------------------------------------------

  function authCell(row, channel) {
    var td = cell(row, "");
    if (channel.auth === "ok") {
      td.appendChild(pill("ok", "ok"));
    } else if (channel.auth === "missing_scopes") {
      td.appendChild(pill("missing scopes: " + (channel.missing_scopes || []).join(", "), "pending"));
      td.appendChild(authButton("Re-authorize", "Re-authorize " + channel.login, channel));
    } else if (channel.auth === "revoked") {
      td.appendChild(pill("revoked", "revoked"));
      td.appendChild(authButton("Re-add", "Re-add " + channel.login, channel));
    } else {
      td.appendChild(pill(dash(channel.auth), ""));
    }
    if (channel.authorized_at) td.appendChild(el("div", "since " + when(channel.authorized_at), "muted small-text"));
    return td;
  }

  function authButton(text, label, channel) {
    var button = el("button", text, "btn small");
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", function () { startAuthorization(channel, button); });
    return button;
  }

  function subscriptionsCell(row, channel) {
    var counts = channel.subscriptions || {};
    var statuses = Object.keys(counts).sort();
    var td = cell(row, statuses.length ? "" : "–");
    if (!statuses.length) td.title = "None, or kept by the coordinator replica";
    statuses.forEach(function (status) {
      td.appendChild(pill(counts[status] + " " + status, status));
      td.appendChild(document.createTextNode(" "));
    });
    return td;
  }

  function render() {
    var body = $("channels").tBodies[0];
    $("channels-empty").hidden = channels.length > 0;
    var keys = channels.map(function (c) { return [c.id, keyFor(c), !!channelKeys[c.id]]; });
    renderOnce("channels", { channels: channels, keys: keys }, body, function (tbody) {
      channels.forEach(function (channel) {
        var row = el("tr");
        row.dataset.channel = channel.login;
        var who = cell(row, "");
        who.appendChild(el("span", channel.login, "mono"));
        if (channel["default"]) {
          who.appendChild(document.createTextNode(" "));
          who.appendChild(el("span", "default", "pill ok channel-default"));
        }
        who.appendChild(el("div", channel.id, "muted mono small-text"));
        cell(row, dash(channel.display_name));
        authCell(row, channel);
        subscriptionsCell(row, channel);
        cell(row, dash(channel.clients), "num");
        cell(row, "").appendChild(overlayList(channel));
        var actions = cell(row, "");
        if (!channel["default"]) {
          var remove = el("button", "Remove", "btn small danger");
          remove.type = "button";
          remove.setAttribute("aria-label", "Remove channel " + channel.login);
          remove.addEventListener("click", function () { removeChannel(channel, remove); });
          actions.appendChild(remove);
        }
        tbody.appendChild(row);
      });
    });
  }

  function load() {
    return api("GET", "/channels").then(function (result) {
      if (result.ok && Array.isArray(result.data)) {
        channels = result.data;
        var names = JSON.stringify(channels.map(function (c) { return [c.id, c.login]; }));
        // The keys table names bound channels by login: tell it when those change.
        if (names !== knownNames) {
          knownNames = names;
          if (D.keys && D.keys.load) D.keys.load();
        }
        $("channels-empty").textContent = "No channel yet: authorize StreamCore on Twitch (Twitch connection) or add one.";
      } else {
        channels = [];
        $("channels-empty").textContent = "Channels unavailable: " + problem(result);
      }
      render();
      return channels;
    }, function () { return channels; });
  }

  function poll() {
    clearTimeout(pollTimer);
    load().then(function () { pollTimer = setTimeout(poll, CHANNELS_POLL_MS); });
  }

  // -- adding, re-authorizing ---------------------------------------------------------------

  /** POST /channels and show its link and device code; `target` (a listed channel, or null
   * for a new one) is what the authorization is expected to add or renew. */
  function startAuthorization(target, button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    api("POST", "/channels").then(function (result) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (!result.ok) { notify("Could not start the authorization: " + problem(result), "bad"); return; }
      showAuthorization(result.data, target);
    }, function () {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      notify("StreamCore did not answer.", "bad");
    });
  }

  function showAuthorization(data, target) {
    stopWaiting();
    var device = data.device || {};
    $("channel-auth-title").textContent = target
      ? "Re-authorize " + target.login : "Add a channel";
    $("channel-auth-who").textContent = target
      ? "Have " + target.login + " open this link (signed in to Twitch as " + target.login + "):"
      : "Send the broadcaster this link; whoever approves it is added as a channel:";
    var link = $("channel-auth-link");
    link.textContent = String(data.auth_url || "");
    link.href = safeHref(data.auth_url);
    var uri = $("channel-device-uri");
    uri.textContent = String(device.verification_uri || "");
    uri.href = safeHref(device.verification_uri);
    $("channel-device-code").textContent = String(device.user_code || "");
    $("channel-device").hidden = !device.user_code;
    $("channel-auth").hidden = false;
    var known = {};
    channels.forEach(function (c) { known[c.id] = c.authorized_at || ""; });
    var lifetime = Math.max(30, Number(device.expires_in) || 600) * 1000;
    var every = Math.min(ADD_POLL_MAX_MS, Math.max(ADD_POLL_MIN_MS, (Number(device.interval) || 5) * 1000));
    pending = { device: device, known: known, target: target, deadline: Date.now() + lifetime, every: every, timer: null };
    setAuthStatus("Waiting for the broadcaster to approve…", "");
    waitForChannel(pending);
  }

  function setAuthStatus(text, kind) {
    var status = $("channel-auth-status");
    status.textContent = text;
    status.className = kind ? kind + "-text" : "muted";
  }

  /** The channel this authorization added or renewed, once the list shows it. */
  function arrived(wait) {
    for (var i = 0; i < channels.length; i++) {
      var channel = channels[i];
      if (!(channel.id in wait.known)) return channel;
      if (wait.known[channel.id] !== (channel.authorized_at || "")) return channel;
    }
    return null;
  }

  function waitForChannel(wait) {
    wait.timer = setTimeout(function () {
      if (pending !== wait) return;
      var deviceCheck = wait.device.id && !wait.deviceDone
        ? api("GET", "/tokens/device/" + encodeURIComponent(wait.device.id)) : Promise.resolve(null);
      deviceCheck.then(function (result) {
        if (pending !== wait) return null;
        if (result && result.ok && result.data && result.data.status === "failed") {
          wait.deviceDone = true;
          setAuthStatus("The device code did not work (" + dash(result.data.error) +
            "); the link still does, or start again.", "bad");
        }
        return load();
      }, function () { return load(); }).then(function () {
        if (pending !== wait) return;
        var channel = arrived(wait);
        if (channel) {
          pending = null;
          setAuthStatus((wait.target ? "Re-authorized " : "Added ") + channel.login + ".", "ok");
          notify((wait.target ? "Channel " + channel.login + " re-authorized." : "Channel " + channel.login + " added."), "ok");
          return;
        }
        if (Date.now() > wait.deadline) {
          pending = null;
          setAuthStatus("The code expired before anyone approved it; start again.", "bad");
          return;
        }
        waitForChannel(wait);
      });
    }, wait.every);
  }

  function stopWaiting() {
    if (pending) clearTimeout(pending.timer);
    pending = null;
  }

  function closeAuthorization() {
    stopWaiting();
    $("channel-auth").hidden = true;
  }

  // -- removing -----------------------------------------------------------------------------

  function removeChannel(channel, button) {
    if (!window.confirm("Remove the channel " + channel.login + "? Its token is revoked and deleted, " +
      "its subscriptions stop, and overlays following it receive nothing more.")) return;
    button.disabled = true;
    api("DELETE", "/channels/" + encodeURIComponent(channel.id)).then(function (result) {
      if (result.ok) {
        delete channelKeys[channel.id];
        delete unfolded[channel.id];
        notify("Channel " + channel.login + " removed.", "ok");
      } else {
        button.disabled = false;
        notify("Could not remove " + channel.login + ": " + problem(result), "bad");
      }
      return load();
    }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
  }

  // -- start --------------------------------------------------------------------------------

  function init() {
    $("channel-add-btn").addEventListener("click", function () { startAuthorization(null, $("channel-add-btn")); });
    $("channel-auth-close").addEventListener("click", closeAuthorization);
    $("channel-auth-copy").addEventListener("click", function () { copy($("channel-auth-link").textContent, "Link"); });
    $("channel-key-copy").addEventListener("click", function () { copy($("channel-key-value").textContent, "Key"); });
    $("overlay-key").addEventListener("input", render);
    poll();
  }

  D.channels = { init: init, load: load, loginOf: loginOf };
})(window);
