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

  Connection.prototype._dispatch = function (envelope) {
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
