/*
 * streamcore.js - StreamCore's browser kit (no dependencies).
 *
 *   const sc = StreamCore.connect({ key: "sck_...", events: "follow,chat" });
 *   sc.on("follow", (data, envelope) => { ... });   // same matching as ?events=
 *   sc.on("*", (data, envelope) => { ... });        // everything
 *
 * It reconnects by itself with capped, jittered backoff (reset after a successful connection)
 * and resumes with ?since=<last id>, so nothing published meanwhile is lost while it is retained
 * on the server. Event ids only grow, so an event whose id is not newer than the last one seen
 * (a repeat after a resume or a retried emit) is dropped, never delivered twice.
 * A refused key (4001), a channel the key may not see (4003) or a bad request (4000) is final.
 * Options: url (default: this page's server + /ws/events), key, events (string or array),
 * channel (a login or id: only that channel's events, plus system events), since,
 * onStatus(state, detail) with state "connecting" | "open" | "closed" | "failed".
 * sc.call(action, args) returns a Promise of the action's result (rejected with err.code);
 * sc.subscribe(events) / sc.unsubscribe(events) change what arrives without reconnecting.
 * Defaults for key, events and channel come from the page's own query string
 * (?key=...&events=...&channel=...),
 * which is how OBS browser sources are configured.
 */
(function (global) {
  "use strict";

  var FATAL_CODES = { 4000: true, 4001: true, 4003: true };

  // Ids are "<milliseconds>-<sequence>", ordered across StreamCore processes.
  function isNewer(id, than) {
    var a = id.split("-"), b = than.split("-");
    var ams = Number(a[0]), bms = Number(b[0]);
    if (ams !== bms) return ams > bms;
    return Number(a[1] || 0) > Number(b[1] || 0);
  }
  var BACKOFF_BASE_MS = 250;
  var BACKOFF_CAP_MS = 10000;

  function segmentsMatch(pattern, name) {
    if (pattern === "*" || pattern === name) return true;
    if (/[*?\[]/.test(pattern)) {
      var re = new RegExp("^" + pattern.replace(/[.+^${}()|\\]/g, "\\$&")
        .replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
      return re.test(name);
    }
    if (pattern.indexOf(".") !== -1) return false;
    return name.split(".").indexOf(pattern) !== -1;
  }

  function defaultUrl() {
    var scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + "/ws/events";
  }

  function pageParam(name) {
    try { return new URLSearchParams(global.location.search).get(name); } catch (e) { return null; }
  }

  function Connection(options) {
    options = options || {};
    this.url = options.url || defaultUrl();
    this.key = options.key !== undefined ? options.key : pageParam("key");
    var events = options.events !== undefined ? options.events : pageParam("events");
    this.events = Array.isArray(events) ? events.join(",") : (events || "");
    this.channel = options.channel !== undefined ? options.channel : pageParam("channel");
    this.lastId = options.since || null;
    this.repeats = 0;
    this.onStatus = options.onStatus || function () {};
    this.handlers = [];
    this.attempts = 0;
    this.stopped = false;
    this.socket = null;
    this.received = 0;
    this.pending = {};
    this._open();
  }

  Connection.prototype.on = function (pattern, handler) {
    this.handlers.push({ pattern: pattern, handler: handler });
    return this;
  };

  Connection.prototype.close = function () {
    this.stopped = true;
    if (this.socket) this.socket.close(1000, "closed by page");
  };

  Connection.prototype._address = function () {
    var query = [];
    if (this.key) query.push("key=" + encodeURIComponent(this.key));
    if (this.events) query.push("events=" + encodeURIComponent(this.events));
    if (this.channel) query.push("channel=" + encodeURIComponent(this.channel));
    if (this.lastId) query.push("since=" + encodeURIComponent(this.lastId));
    return this.url + (query.length ? "?" + query.join("&") : "");
  };

  Connection.prototype._open = function () {
    var self = this;
    self.onStatus("connecting", { attempt: self.attempts });
    var socket = new WebSocket(self._address());
    self.socket = socket;
    socket.onopen = function () {
      self.attempts = 0;
      self.onStatus("open", {});
    };
    socket.onmessage = function (message) {
      var envelope;
      try { envelope = JSON.parse(message.data); } catch (e) { return; }
      if (envelope.id) {
        if (self.lastId && !isNewer(envelope.id, self.lastId)) { self.repeats += 1; return; }
        self.lastId = envelope.id;
      }
      self.received += 1;
      self._dispatch(envelope);
    };
    socket.onclose = function (close) {
      self.socket = null;
      var waiting = self.pending;
      self.pending = {};
      for (var id in waiting) {
        waiting[id]({ ok: false, error: { code: "disconnected", message: "the connection closed" } });
      }
      if (self.stopped) { self.onStatus("closed", { code: close.code }); return; }
      if (FATAL_CODES[close.code]) {
        self.stopped = true;
        self.onStatus("failed", { code: close.code, reason: close.reason });
        return;
      }
      var delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, self.attempts));
      delay = delay / 2 + Math.random() * delay / 2;
      self.attempts += 1;
      self.onStatus("closed", { code: close.code, reason: close.reason, retryInMs: delay });
      setTimeout(function () { if (!self.stopped) self._open(); }, delay);
    };
  };

  // -- requests: actions and live subscriptions --------------------------------------------

  /* call("chat.send", {message: "hi"}, {channel: "login", timeoutMs: 10000}) -> a Promise of
   * the result; rejects with an Error whose `code` is the server's (forbidden, invalid_args,
   * auth_required, rate_limited, ...) or "not_connected" / "timeout". */
  Connection.prototype.call = function (action, args, options) {
    return this._request({ op: "call", action: action, args: args || {},
      channel: (options && options.channel) || undefined }, options);
  };

  /* Add event patterns to what this page receives (kept across reconnects). */
  Connection.prototype.subscribe = function (events) {
    var list = Array.isArray(events) ? events : String(events).split(",");
    var current = this.events ? this.events.split(",") : [];
    for (var i = 0; i < list.length; i++) if (current.indexOf(list[i]) < 0) current.push(list[i]);
    this.events = current.join(",");
    return this._request({ op: "subscribe", events: list });
  };

  /* Remove event patterns (kept across reconnects). */
  Connection.prototype.unsubscribe = function (events) {
    var list = Array.isArray(events) ? events : String(events).split(",");
    this.events = (this.events ? this.events.split(",") : [])
      .filter(function (e) { return list.indexOf(e) < 0; }).join(",");
    return this._request({ op: "unsubscribe", events: list });
  };

  Connection.prototype._request = function (message, options) {
    var self = this;
    var timeoutMs = (options && options.timeoutMs) || 10000;
    return new Promise(function (resolve, reject) {
      if (!self.socket || self.socket.readyState !== 1) {
        var error = new Error("not connected");
        error.code = "not_connected";
        reject(error);
        return;
      }
      self.nextRequest = (self.nextRequest || 0) + 1;
      var id = "r" + self.nextRequest;
      message.id = id;
      var timer = setTimeout(function () {
        delete self.pending[id];
        var error = new Error("no answer within " + timeoutMs + " ms");
        error.code = "timeout";
        reject(error);
      }, timeoutMs);
      self.pending[id] = function (data) {
        clearTimeout(timer);
        if (data.ok) { resolve(data.result); return; }
        var error = new Error((data.error && data.error.message) || "failed");
        error.code = data.error && data.error.code;
        error.details = data.error;
        reject(error);
      };
      self.socket.send(JSON.stringify(message));
    });
  };

  Connection.prototype._dispatch = function (envelope) {
    if (envelope.event === "system.result" && envelope.data && this.pending[envelope.data.id]) {
      var answer = this.pending[envelope.data.id];
      delete this.pending[envelope.data.id];
      answer(envelope.data);
      return;
    }
    for (var i = 0; i < this.handlers.length; i++) {
      var entry = this.handlers[i];
      if (segmentsMatch(entry.pattern, envelope.event)) {
        try { entry.handler(envelope.data, envelope); } catch (e) {
          if (global.console) global.console.error("streamcore handler failed", e);
        }
      }
    }
  };

  global.StreamCore = {
    connect: function (options) { return new Connection(options); },
    matches: segmentsMatch,
  };
})(typeof window !== "undefined" ? window : this);
