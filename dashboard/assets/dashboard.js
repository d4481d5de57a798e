/*
 * StreamCore dashboard: status, authorization, start/stop, workers, demo triggers, live events
 * (with the recent history the event log retains).
 * Overlays and keys are in keys.js, channels in channels.js, actions in actions.js, shared
 * helpers in common.js (all loaded before this).
 *
 * Every call is same-origin and relies on the login cookie (or on being local when no admin
 * token is set). Data reaches the page through textContent only (see common.js).
 */
(function () {
  "use strict";

  /** How often the status is read again; a start, stop or replay also refreshes at once. */
  var STATUS_POLL_MS = 3000;
  /** The live feed keeps this many entries; older ones are dropped from the page. */
  var FEED_MAX = 100;
  var DEMO_EVENTS = [
    { label: "Follow", type: "channel.follow" },
    { label: "Sub", type: "channel.subscribe" },
    { label: "Gift subs", type: "channel.subscription.gift" },
    { label: "Cheer", type: "channel.cheer" },
    { label: "Raid", type: "channel.raid" },
    { label: "Chat message", type: "channel.chat.message" },
    { label: "Redemption", type: "channel.channel_points_custom_reward_redemption.add" },
    { label: "Stream online", type: "stream.online" },
  ];

  var D = window.SCDashboard;
  var $ = D.$, el = D.el, pill = D.pill, setPill = D.setPill, clear = D.clear, dash = D.dash;
  var age = D.age, when = D.when, notify = D.notify, api = D.api, problem = D.problem;
  var renderOnce = D.renderOnce, cell = D.cell;

  var config = { demo: false, admin_required: false, feed_key_required: false };
  var running = false;

  // -- status -----------------------------------------------------------------------------

  function renderAuth(auth) {
    var state = auth.state || "unknown";
    setPill($("auth-state"), state === "ok" ? "Connected" : state === "auth_required" ? "Authorization needed" : state, state);
    $("auth-login").textContent = dash(auth.login);
    $("auth-expires").textContent = when(auth.expires_at);
    var missing = auth.missing_scopes || [];
    $("auth-missing").textContent = missing.length ? missing.join(", ") : "none";
    var reason = $("auth-reason");
    reason.hidden = !auth.reason;
    reason.textContent = auth.reason || "";
    $("auth-link").hidden = state !== "auth_required";
    $("revoke-btn").hidden = state !== "ok";
  }

  function renderGateway(status) {
    var gateway = status.gateway || {};
    var state = gateway.state || "stopped";
    setPill($("gateway-state"), state, state);
    $("gateway-session").textContent = dash(gateway.session_id);
    $("gateway-age").textContent = age(gateway.connection_age_s);
    $("gateway-last").textContent = gateway.last_message_age_s === null || gateway.last_message_age_s === undefined
      ? "–" : age(gateway.last_message_age_s) + " ago";
    var reconnects = 0;
    var counts = gateway.reconnects || {};
    Object.keys(counts).forEach(function (k) { reconnects += Number(counts[k]) || 0; });
    $("gateway-reconnects").textContent = String(reconnects);
    var backends = status.backends || {};
    $("backends").textContent = "bus: " + dash(backends.bus) + " · store: " + dash(backends.store);
    var reason = $("gateway-reason");
    reason.hidden = !gateway.reason || state === "connected";
    reason.textContent = gateway.reason || "";
    var failures = status.task_failures || {};
    renderOnce("failures", failures, $("task-failures"), function (list) {
      Object.keys(failures).forEach(function (name) {
        list.appendChild(el("li", name + ": " + failures[name]));
      });
    });
  }

  function renderSubscriptions(subscriptions) {
    $("subscriptions-empty").hidden = subscriptions.length > 0;
    renderOnce("subscriptions", subscriptions, $("subscriptions").tBodies[0], function (body) {
      subscriptions.forEach(function (sub) {
        var row = el("tr");
        row.dataset.type = sub.type;
        cell(row, sub.type, "mono");
        cell(row, sub.version);
        cell(row, "").appendChild(pill(sub.status, sub.status));
        cell(row, dash(sub.reason), "muted");
        body.appendChild(row);
      });
    });
  }

  function holdsText(holds) {
    var parts = [];
    if (holds.coordinator) parts.push("coordinator");
    if (holds.gateway) parts.push("gateway " + holds.gateway);
    if (holds.shards && holds.shards.length) parts.push("shards " + holds.shards.join(", "));
    if (holds.workers) parts.push("workers");
    if (holds.role === "workers") parts.push("workers only");
    return parts.join(" · ") || "–";
  }

  function renderCluster(cluster) {
    var coordinator = cluster.coordinator || {};
    $("cluster-self").textContent = dash(cluster.replica_id);
    $("cluster-coordinator").textContent = coordinator.replica_id
      ? coordinator.replica_id + " (token " + coordinator.fencing_token + ")" : "none";
    var replicas = cluster.replicas || [];
    renderOnce("replicas", replicas.map(function (r) {
      return [r.id, r.address, r.alive, r.holds, r.started, Math.round(r.last_seen_age_s)];
    }), $("replicas").tBodies[0], function (body) {
      replicas.forEach(function (replica) {
        var row = el("tr");
        row.dataset.replica = replica.id;
        cell(row, replica.id + (replica.self ? " (this one)" : ""), "mono");
        cell(row, dash(replica.address), "mono");
        var state = replica.alive ? "alive" : "gone";
        cell(row, "").appendChild(pill(state, replica.alive ? "running" : "stopped"));
        cell(row, holdsText(replica.holds || {}));
        cell(row, dash(replica.started), "muted");
        cell(row, age(replica.last_seen_age_s) + " ago", "num");
        body.appendChild(row);
      });
    });
  }

  function renderWorkers(workers, errors) {
    renderOnce("workers", { workers: workers, running: running }, $("workers").tBodies[0], function (body) {
      workers.forEach(function (worker) {
        var row = el("tr");
        row.dataset.worker = worker.name;
        cell(row, worker.name);
        var stateCell = cell(row, "");
        stateCell.appendChild(pill(worker.state, worker.state));
        if (worker.last_error) stateCell.appendChild(el("div", worker.last_error, "muted"));
        cell(row, (worker.types || []).join(", "), "mono");
        cell(row, dash(worker.handled), "num");
        cell(row, dash(worker.failed), "num");
        cell(row, dash(worker.dead_letters), "num");
        cell(row, dash(worker.lag), "num");
        var button = el("button", "Replay", "btn small");
        button.type = "button";
        button.setAttribute("aria-label", "Replay dead letters of " + worker.name);
        button.disabled = !running || !worker.dead_letters;
        button.addEventListener("click", function () { replay(worker.name, button); });
        cell(row, "").appendChild(button);
        body.appendChild(row);
      });
    });
    renderOnce("worker-errors", errors, $("worker-errors"), function (list) {
      errors.forEach(function (error) { list.appendChild(el("li", error.source + ": " + error.reason)); });
    });
  }

  function renderClients(clients) {
    $("clients-connected").textContent = dash(clients.connected_clients !== undefined ? clients.connected_clients : clients.connected);
    $("clients-events").textContent = dash(clients.events);
    $("clients-slow").textContent = dash(clients.slow_disconnects);
    $("clients-bus-dropped").textContent = dash(clients.bus_dropped);
  }

  function renderStatus(status) {
    running = !!status.running;
    setPill($("run-state"), running ? "Running" : "Stopped", running ? "running" : "stopped");
    $("version").textContent = status.version ? "v" + status.version : "";
    $("start-btn").disabled = running;
    $("stop-btn").disabled = !running;
    renderAuth(status.auth || {});
    renderGateway(status);
    renderSubscriptions(status.subscriptions || []);
    renderCluster(status.cluster || {});
    renderWorkers(status.workers || [], status.worker_errors || []);
    renderClients(status.clients || {});
  }

  var pollTimer = null;
  function refresh() {
    clearTimeout(pollTimer);
    return api("GET", "/system/status").then(function (result) {
      if (result.ok) renderStatus(result.data);
      else setPill($("run-state"), "Status unavailable", "failed");
    }, function () {
      setPill($("run-state"), "StreamCore unreachable", "failed");
    }).then(function () {
      pollTimer = setTimeout(refresh, STATUS_POLL_MS);
    });
  }

  // -- actions ----------------------------------------------------------------------------

  function busy(button, promise) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    return promise.then(function (value) {
      button.removeAttribute("aria-busy");
      return value;
    }, function (error) {
      button.removeAttribute("aria-busy");
      button.disabled = false;
      notify("StreamCore did not answer: " + error, "bad");
    }).then(refresh);
  }

  function start() {
    busy($("start-btn"), api("POST", "/system/start").then(function (result) {
      if (result.ok) notify(result.data.status === "already_running" ? "Already running." : "Started.", "ok");
      else if (result.status === 401 && result.data && result.data.auth_url !== undefined) {
        notify("Authorize StreamCore on Twitch first (Twitch connection).", "bad");
      } else notify("Could not start: " + problem(result), "bad");
    }));
  }

  function stop() {
    busy($("stop-btn"), api("POST", "/system/stop").then(function (result) {
      notify(result.ok ? "Stopped." : "Could not stop: " + problem(result), result.ok ? "ok" : "bad");
    }));
  }

  function replay(name, button) {
    busy(button, api("POST", "/system/workers/" + encodeURIComponent(name) + "/replay").then(function (result) {
      if (result.ok) notify("Sent " + result.data.replayed + " dead letter(s) back to " + name + ".", "ok");
      else notify("Replay failed: " + problem(result), "bad");
    }));
  }

  function revokeToken() {
    if (!window.confirm("Disconnect StreamCore from Twitch? The token is revoked and deleted.")) return;
    busy($("revoke-btn"), api("DELETE", "/tokens").then(function (result) {
      notify(result.ok ? "Disconnected from Twitch." : "Could not disconnect: " + problem(result), result.ok ? "ok" : "bad");
    }));
  }

  var deviceTimer = null;
  function startDeviceFlow() {
    var button = $("device-btn");
    button.disabled = true;
    api("POST", "/tokens/device").then(function (result) {
      button.disabled = false;
      if (!result.ok) { notify("Device code unavailable: " + problem(result), "bad"); return; }
      var flow = result.data;
      var link = $("device-uri");
      link.textContent = flow.verification_uri;
      link.href = /^https?:\/\//.test(flow.verification_uri) ? flow.verification_uri : "#";
      $("device-code").textContent = flow.user_code;
      $("device-box").hidden = false;
      showDeviceStatus(flow);
      clearTimeout(deviceTimer);
      pollDevice(flow.id, Math.max(2, Number(flow.interval) || 5) * 1000);
    }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
  }

  function showDeviceStatus(flow) {
    var text = flow.status === "pending" ? "Waiting for you to enter the code…"
      : flow.status === "authorized" ? "Connected" + (flow.login ? " as " + flow.login : "") + "."
      : "The code did not work: " + (flow.error || flow.status) + ". Start a new one.";
    $("device-status").textContent = text;
  }

  function pollDevice(id, every) {
    deviceTimer = setTimeout(function () {
      api("GET", "/tokens/device/" + encodeURIComponent(id)).then(function (result) {
        if (!result.ok) { $("device-status").textContent = problem(result); return; }
        showDeviceStatus(result.data);
        if (result.data.status === "pending") pollDevice(id, every);
        else refresh();
      });
    }, every);
  }

  // -- demo -------------------------------------------------------------------------------

  function renderDemo() {
    var card = $("demo-card");
    card.hidden = !config.demo;
    if (!config.demo) return;
    var group = $("demo-buttons");
    clear(group);
    DEMO_EVENTS.forEach(function (demo) {
      var button = el("button", demo.label, "btn");
      button.type = "button";
      button.dataset.type = demo.type;
      button.addEventListener("click", function () {
        button.disabled = true;
        api("POST", "/demo/trigger", { type: demo.type, event: {}, count: 1 }).then(function (result) {
          button.disabled = false;
          if (!result.ok) { notify(demo.label + ": " + problem(result), "bad"); return; }
          if (result.data && result.data.delivered === 0) {
            notify(demo.label + ": no subscription took it; start the system and wait for its subscriptions.", "bad");
          } else notify(demo.label + " sent.", "ok");
        }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
      });
      group.appendChild(button);
    });
  }

  // -- live feed --------------------------------------------------------------------------

  function describe(envelope) {
    var data = envelope.data || {};
    if (envelope.event === "chat.message") {
      var user = data.user && typeof data.user === "object" ? (data.user.name || data.user.login) : data.user;
      return { kind: "chat", title: (user || "Someone") + ": " + (data.text || "") };
    }
    if (envelope.event.indexOf("system.") === 0) {
      return { kind: "system", title: data.state ? data.state + (data.reason ? " (" + data.reason + ")" : "") : JSON.stringify(data).slice(0, 160) };
    }
    var text = window.StreamCoreDescribe ? window.StreamCoreDescribe.describe(envelope) : null;
    if (!text || text.kind === "other") {
      return { kind: "other", title: JSON.stringify(data).slice(0, 160) };
    }
    return { kind: text.kind, title: text.title + (text.detail ? " · " + text.detail : "") };
  }

  function feedItem(envelope) {
    var text = describe(envelope);
    var item = el("li", null, "kind-" + text.kind);
    item.appendChild(el("span", envelope.event, "event-name"));
    item.appendChild(el("time", new Date(envelope.ts || Date.now()).toLocaleTimeString(), "event-time"));
    item.appendChild(el("span", text.title, "event-text"));
    return item;
  }

  // Events wait here (at most FEED_MAX, oldest dropped) and reach the page in one batch, so the
  // history replayed when the page opens (up to the whole retention) costs one render.
  var feedPending = [];
  var feedFlush = null;

  function flushFeed() {
    feedFlush = null;
    var feed = $("feed");
    var batch = document.createDocumentFragment();
    for (var i = feedPending.length - 1; i >= 0; i--) batch.appendChild(feedItem(feedPending[i]));
    feedPending = [];
    feed.insertBefore(batch, feed.firstChild);
    while (feed.children.length > FEED_MAX) feed.removeChild(feed.lastChild);
    $("feed-empty").hidden = feed.children.length > 0;
  }

  function addToFeed(envelope) {
    if (envelope.event === "system.pong" || envelope.event === "system.replay_truncated") return;
    feedPending.push(envelope);
    if (feedPending.length > FEED_MAX) feedPending.shift();
    if (feedFlush === null) feedFlush = setTimeout(flushFeed, 0);
  }

  var feedConnection = null;
  /** Where the feed resumes: "0" at first, so the recent history (what the event log still
   * retains, of which the newest FEED_MAX are kept) is listed as soon as the page opens. */
  var feedSince = "0";
  function connectFeed(key) {
    if (feedConnection) {
      feedSince = feedConnection.lastId || feedSince;
      feedConnection.close();
    }
    $("feed-key-form").hidden = true;
    feedConnection = window.StreamCore.connect({
      key: key || "",
      events: "",
      since: feedSince,
      onStatus: function (state, detail) {
        var label = state === "open" ? "live" : state === "closed" ? "reconnecting" : state;
        setPill($("feed-state"), label, state);
        if (state === "failed") {
          if (detail.code === 4001) {
            $("feed-key-form").hidden = false;
            setPill($("feed-state"), "needs a key", "failed");
          } else notify("Live feed refused: " + (detail.reason || detail.code), "bad");
        }
      },
    });
    feedConnection.on("*", function (data, envelope) { addToFeed(envelope); });
    window.streamcoreFeed = feedConnection;
  }

  // -- authorization link -----------------------------------------------------------------

  /** Ask for a link first: on an install without a Twitch application, /tokens/authorize
   * answers a bare JSON 503, so the page explains what to set instead of going there. */
  function authorizeOnTwitch(event) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    var link = $("auth-link");
    link.setAttribute("aria-busy", "true");
    api("GET", "/tokens/link").then(function (result) {
      link.removeAttribute("aria-busy");
      var url = result.ok && result.data ? String(result.data.auth_url || "") : "";
      if (/^https?:\/\//.test(url)) {
        $("auth-setup").hidden = true;
        window.location.assign(url);
      } else if (result.status === 503 && result.data && result.data.error === "twitch_not_configured") {
        showSetup(result.data.message);
      } else {
        notify("Could not start the authorization: " + problem(result), "bad");
      }
    }, function () {
      link.removeAttribute("aria-busy");
      notify("StreamCore did not answer.", "bad");
    });
  }

  function showSetup(message) {
    $("auth-setup-reason").textContent = message || "";
    // Twitch accepts plain http only for localhost, so a loopback address is spelled so.
    var origin = window.location.protocol + "//" +
      window.location.host.replace(/^(127\.0\.0\.1|\[::1\])(?=:|$)/, "localhost");
    $("auth-setup-redirect").textContent = origin + "/tokens/callback";
    var box = $("auth-setup");
    box.hidden = false;
    box.focus();
  }

  // -- start --------------------------------------------------------------------------------

  function init() {
    $("start-btn").addEventListener("click", start);
    $("stop-btn").addEventListener("click", stop);
    $("device-btn").addEventListener("click", startDeviceFlow);
    $("revoke-btn").addEventListener("click", revokeToken);
    $("auth-link").addEventListener("click", authorizeOnTwitch);
    $("feed-key-form").addEventListener("submit", function (event) {
      event.preventDefault();
      connectFeed($("feed-key").value.trim());
    });
    api("GET", "/dashboard/config").then(function (result) {
      if (result.ok) config = result.data;
      $("logout-form").hidden = !config.admin_required;
      renderDemo();
    }).then(function () {
      refresh();
      D.keys.init();
      D.channels.init();
      D.actions.init();
      D.accounts.init();
      connectFeed("");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
