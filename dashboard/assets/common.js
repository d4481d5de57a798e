/*
 * Shared helpers of the dashboard's scripts (loaded first): DOM building, same-origin API
 * calls, notices. Every piece of data goes into the page through textContent or attributes,
 * never through innerHTML, so nothing a viewer types (chat, names) can run as code here.
 */
(function (global) {
  "use strict";

  /** How long a notice stays before it hides itself. */
  var NOTICE_MS = 6000;
  var STATE_CLASS = {
    ok: "ok", running: "ok", connected: "ok", enabled: "ok", open: "ok", authorized: "ok",
    auth_required: "warn", pending: "warn", connecting: "warn", reconnecting: "warn",
    backing_off: "warn", closed: "warn", skipped: "warn",
    failed: "bad", revoked: "bad", disconnected: "bad", stopped: "",
  };


  var rendered = {};
  var noticeTimer = null;

  function $(id) { return document.getElementById(id); }

  /** A new element with text content (never parsed as HTML). */
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function pill(text, state) {
    return el("span", text, "pill " + (STATE_CLASS[state] || ""));
  }

  function setPill(node, text, state) {
    node.textContent = text;
    node.className = (node.classList.contains("badge") ? "badge " : "pill ") + (STATE_CLASS[state] || "");
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function dash(value) { return value === null || value === undefined || value === "" ? "–" : String(value); }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function when(iso) {
    if (!iso) return "–";
    var date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  function notify(message, kind) {
    var notice = $("notice");
    notice.textContent = message;
    notice.className = "notice " + (kind || "");
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, NOTICE_MS);
  }

  /** Same-origin JSON call; a 401 means the login expired, so back to the login form. */
  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      // Only the admin guard answers 401 with WWW-Authenticate; POST /system/start answers
      // 401 without it when Twitch authorization is missing, which is no reason to log out.
      if (response.status === 401 && response.headers.get("WWW-Authenticate")) {
        window.location.assign("/dashboard/login");
      }
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  /** The most helpful message in an error body (ours, FastAPI's detail, or a status). */
  function problem(result) {
    var data = result.data || {};
    if (typeof data.message === "string" && data.message) return data.message;
    if (typeof data.detail === "string") return data.detail;
    if (Array.isArray(data.detail) && data.detail.length) return String(data.detail[0].msg || "invalid input");
    return "request failed (HTTP " + result.status + ")";
  }

  /** Replace a container's children only when its data changed, so focus survives polling. */
  function renderOnce(name, data, container, build) {
    var fingerprint = JSON.stringify(data);
    if (rendered[name] === fingerprint) return;
    rendered[name] = fingerprint;
    clear(container);
    build(container);
  }

  function cell(row, value, className) {
    var td = el("td", value, className);
    row.appendChild(td);
    return td;
  }

  function copy(text, what) {
    var done = function () { notify(what + " copied.", "ok"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { notify("Copy failed; select the text instead.", "bad"); });
    } else {
      notify("Select the text and copy it (the clipboard needs https or localhost).", "");
    }
  }

  global.SCDashboard = {
    $: $, el: el, pill: pill, setPill: setPill, clear: clear, dash: dash, age: age, when: when,
    notify: notify, api: api, problem: problem, renderOnce: renderOnce, cell: cell, copy: copy,
  };
})(window);
