/*
 * The dashboard's actions: every action the workers declare (GET /actions: name, description,
 * scopes, the JSON schema of its arguments), a form built from the chosen one's schema, and
 * "Run" (POST /actions/{name}, optionally ?channel=<login>) with the result or the error:
 * field errors next to their fields (invalid_args), an "Authorize" link (auth_required).
 *
 * Names, descriptions, results and error messages reach the page through textContent and
 * attributes only (common.js), like everything else on the dashboard.
 */
(function (global) {
  "use strict";

  var D = global.SCDashboard;
  var $ = D.$, el = D.el, pill = D.pill, clear = D.clear, api = D.api, notify = D.notify;
  var problem = D.problem, renderOnce = D.renderOnce, cell = D.cell;

  /** The error fields shown as their own lines (the rest is listed as details). */
  var SHOWN = { code: true, message: true, fields: true, auth_url: true, missing_scopes: true };

  var actions = [];
  /** The chosen action, and its form's fields: [{ name, schema, required, input, error }]. */
  var chosen = null;
  var fields = [];
  var running = false;

  function safeHref(url) {
    return /^https?:\/\//i.test(String(url || "")) ? String(url) : "#";
  }

  // -- JSON schema -> form fields --------------------------------------------------------------

  /** A property's schema with `$ref` resolved and `anyOf [X, null]` (Optional) unwrapped. */
  function resolve(schema, root) {
    var seen = 0;
    while (schema && typeof schema === "object" && seen++ < 8) {
      if (typeof schema.$ref === "string") {
        var match = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
        var target = match && root.$defs ? root.$defs[match[1]] : null;
        if (!target) return {};
        schema = mergeKeep(target, schema);
        delete schema.$ref;
        continue;
      }
      var options = schema.anyOf || schema.oneOf;
      if (Array.isArray(options)) {
        var real = options.filter(function (o) { return !(o && o.type === "null"); });
        if (real.length === 1) {
          var unwrapped = mergeKeep(real[0], schema);
          delete unwrapped.anyOf;
          delete unwrapped.oneOf;
          schema = unwrapped;
          continue;
        }
      }
      break;
    }
    return schema || {};
  }

  /** `base` with the annotations of `outer` (title, default, description) kept. */
  function mergeKeep(base, outer) {
    var merged = {};
    Object.keys(base).forEach(function (k) { merged[k] = base[k]; });
    ["title", "default", "description"].forEach(function (k) { if (k in outer) merged[k] = outer[k]; });
    return merged;
  }

  /** What input a property gets: text, integer, number, boolean, enum, list or json. */
  function kindOf(schema) {
    if (Array.isArray(schema.enum)) return "enum";
    if (schema.const !== undefined) return "enum";
    if (schema.type === "boolean") return "boolean";
    if (schema.type === "integer") return "integer";
    if (schema.type === "number") return "number";
    if (schema.type === "string") return "text";
    if (schema.type === "array") {
      var items = schema.items || {};
      if (!items.type || items.type === "string") return "list";
    }
    return "json";
  }

  function hintOf(schema, kind) {
    var parts = [];
    if (schema.description) parts.push(String(schema.description));
    if (kind === "text") {
      if (schema.minLength !== undefined && schema.maxLength !== undefined) {
        parts.push(schema.minLength + "–" + schema.maxLength + " characters");
      } else if (schema.maxLength !== undefined) {
        parts.push("up to " + schema.maxLength + " characters");
      }
    }
    if (kind === "integer" || kind === "number") {
      if (schema.minimum !== undefined && schema.maximum !== undefined) {
        parts.push(schema.minimum + " to " + schema.maximum);
      }
    }
    if (kind === "list") {
      var count = schema.minItems !== undefined && schema.maxItems !== undefined
        ? schema.minItems + "–" + schema.maxItems + " items" : "items";
      parts.push(count + ", separated by commas");
    }
    if (kind === "json") parts.push("JSON");
    return parts.join("; ");
  }

  function buildField(name, raw, required, root, index) {
    var schema = resolve(raw, root);
    var kind = kindOf(schema);
    var id = "action-arg-" + index;
    var box = el("div", null, "field action-field");
    box.dataset.field = name;
    var label = el("label", schema.title || name);
    label.htmlFor = id;
    label.appendChild(document.createTextNode(" "));
    label.appendChild(el("span", name, "muted mono small-text"));
    if (required) {
      var mark = el("span", " required", "required");
      label.appendChild(mark);
    }
    box.appendChild(label);
    var input;
    var fallback = schema["default"];
    if (kind === "enum") {
      input = document.createElement("select");
      var choices = Array.isArray(schema.enum) ? schema.enum : [schema["const"]];
      if (!required && (fallback === undefined || fallback === null)) input.appendChild(option("", "–"));
      choices.forEach(function (choice) {
        input.appendChild(option(JSON.stringify(choice), String(choice)));
      });
      if (fallback !== undefined && fallback !== null) input.value = JSON.stringify(fallback);
    } else if (kind === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = fallback === true;
    } else if (kind === "json") {
      input = document.createElement("textarea");
      input.rows = 3;
      input.spellcheck = false;
      if (fallback !== undefined && fallback !== null) input.value = JSON.stringify(fallback);
    } else {
      input = document.createElement("input");
      if (kind === "integer" || kind === "number") {
        input.type = "number";
        input.step = kind === "integer" ? "1" : "any";
        if (schema.minimum !== undefined) input.min = String(schema.minimum);
        if (schema.maximum !== undefined) input.max = String(schema.maximum);
        input.inputMode = kind === "integer" ? "numeric" : "decimal";
      } else {
        input.type = "text";
        if (kind === "text" && schema.maxLength !== undefined) input.maxLength = schema.maxLength;
      }
      input.autocomplete = "off";
      if (kind === "list" && Array.isArray(fallback)) input.value = fallback.join(", ");
      else if (fallback !== undefined && fallback !== null && fallback !== "") input.value = String(fallback);
      if (kind === "list") input.placeholder = "a, b, c";
    }
    input.id = id;
    input.name = name;
    if (required) input.setAttribute("aria-required", "true");
    box.appendChild(input);
    var hint = hintOf(schema, kind);
    var errorId = id + "-error";
    if (hint) {
      var hintNode = el("p", hint, "hint");
      hintNode.id = id + "-hint";
      box.appendChild(hintNode);
      input.setAttribute("aria-describedby", hintNode.id + " " + errorId);
    } else {
      input.setAttribute("aria-describedby", errorId);
    }
    var error = el("p", null, "field-error");
    error.id = errorId;
    error.hidden = true;
    box.appendChild(error);
    return { name: name, kind: kind, required: required, input: input, error: error, box: box };
  }

  function option(value, text) {
    var node = el("option", text);
    node.value = value;
    return node;
  }

  /** The arguments object from the form; throws {field, message} for unreadable JSON. */
  function readArgs() {
    var args = {};
    fields.forEach(function (field) {
      var input = field.input;
      if (field.kind === "boolean") { args[field.name] = input.checked; return; }
      var text = String(input.value);
      if (field.kind === "enum") {
        if (text === "") return;
        args[field.name] = JSON.parse(text);
        return;
      }
      if (field.kind === "text") {
        if (text === "" && !field.required) return;
        args[field.name] = text;
        return;
      }
      if (text.trim() === "") {
        if (field.required && field.kind === "list") args[field.name] = [];
        return;
      }
      if (field.kind === "list") {
        args[field.name] = text.split(",").map(function (s) { return s.trim(); })
          .filter(function (s) { return s !== ""; });
      } else if (field.kind === "integer" || field.kind === "number") {
        var number = Number(text);
        // Not a number: sent as typed, so the server names what is wrong with it.
        args[field.name] = text.trim() !== "" && isFinite(number) ? number : text;
      } else {
        try {
          args[field.name] = JSON.parse(text);
        } catch (e) {
          throw { field: field.name, message: "not valid JSON" };
        }
      }
    });
    return args;
  }

  // -- the list -------------------------------------------------------------------------------

  function renderList() {
    var body = $("actions-list").tBodies[0];
    $("actions-empty").hidden = actions.length > 0;
    var shown = [actions.map(function (a) { return [a.name, a.description, a.scopes]; }), chosen && chosen.name];
    renderOnce("actions", shown, body, function (tbody) {
      actions.forEach(function (action) {
        var row = el("tr");
        row.dataset.action = action.name;
        var pick = el("button", action.name, "btn small mono");
        pick.type = "button";
        pick.setAttribute("aria-pressed", chosen && chosen.name === action.name ? "true" : "false");
        pick.setAttribute("aria-controls", "action-form");
        pick.addEventListener("click", function () { choose(action); });
        cell(row, "").appendChild(pick);
        cell(row, action.description || "–");
        var scopes = cell(row, "", "mono");
        if (!action.scopes || !action.scopes.length) scopes.textContent = "none";
        (action.scopes || []).forEach(function (scope, i) {
          if (i) scopes.appendChild(document.createTextNode(", "));
          scopes.appendChild(el("span", scope));
        });
        tbody.appendChild(row);
      });
    });
  }

  function load() {
    return api("GET", "/actions").then(function (result) {
      if (result.ok && result.data && Array.isArray(result.data.actions)) {
        actions = result.data.actions;
        $("actions-empty").textContent = "No actions: no worker declares one.";
      } else {
        actions = [];
        $("actions-empty").textContent = "Actions unavailable: " + problem(result);
      }
      renderList();
      return actions;
    }, function () { return actions; });
  }

  // -- the form -------------------------------------------------------------------------------

  function choose(action) {
    chosen = action;
    renderList();
    var schema = action.schema || {};
    var required = Array.isArray(schema.required) ? schema.required : [];
    var properties = schema.properties || {};
    var box = $("action-fields");
    clear(box);
    fields = Object.keys(properties).map(function (name, index) {
      var field = buildField(name, properties[name] || {}, required.indexOf(name) >= 0, schema, index);
      box.appendChild(field.box);
      return field;
    });
    $("action-none").hidden = fields.length > 0;
    $("action-form-title").textContent = action.name;
    $("action-form-description").textContent = action.description || "";
    var scopes = action.scopes && action.scopes.length ? action.scopes.join(", ") : "none";
    $("action-form-scopes").textContent = "Twitch scopes: " + scopes;
    $("action-form").hidden = false;
    $("action-pick").hidden = true;
    clearResult();
    loadChannels();
    var first = fields.length ? fields[0].input : $("action-run");
    first.focus();
  }

  function loadChannels() {
    var select = $("action-channel");
    api("GET", "/channels").then(function (result) {
      var list = result.ok && Array.isArray(result.data) ? result.data : [];
      var current = select.value;
      clear(select);
      select.appendChild(option("", "default channel"));
      list.forEach(function (channel) {
        var text = channel.login + (channel["default"] ? " (default)" : "");
        select.appendChild(option(String(channel.login), text));
      });
      select.value = current;
      if (select.value !== current) select.value = "";
    }, function () { /* the default channel stays the only choice */ });
  }

  // -- running, the answer ----------------------------------------------------------------------

  function clearResult() {
    fields.forEach(function (field) {
      field.error.hidden = true;
      field.error.textContent = "";
      field.input.removeAttribute("aria-invalid");
    });
    $("action-result").hidden = true;
    clear($("action-outcome"));
    $("action-auth").hidden = true;
    clear($("action-other-errors"));
    $("action-result-json").hidden = true;
    $("action-result-json").textContent = "";
  }

  function fieldError(name, message) {
    var top = String(name || "").split(".")[0];
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].name === top) {
        var field = fields[i];
        var text = name !== top ? name + ": " + message : message;
        field.error.textContent = field.error.textContent ? field.error.textContent + "; " + text : text;
        field.error.hidden = false;
        field.input.setAttribute("aria-invalid", "true");
        return field;
      }
    }
    $("action-other-errors").appendChild(el("li", (name ? name + ": " : "") + message));
    return null;
  }

  function showOk(result) {
    var outcome = $("action-outcome");
    outcome.appendChild(pill("ok", "ok"));
    outcome.appendChild(document.createTextNode(" " + chosen.name + " ran."));
    var pre = $("action-result-json");
    pre.textContent = JSON.stringify(result === undefined ? null : result, null, 2);
    pre.hidden = false;
    $("action-result").hidden = false;
  }

  function showError(error) {
    error = error && typeof error === "object" ? error : { code: "failed", message: String(error) };
    var outcome = $("action-outcome");
    outcome.appendChild(pill(String(error.code || "failed"), "failed"));
    outcome.appendChild(document.createTextNode(" " + String(error.message || "failed")));
    var firstBad = null;
    if (Array.isArray(error.fields)) {
      error.fields.forEach(function (item) {
        var field = fieldError(item && item.field, item && item.message);
        if (field && !firstBad) firstBad = field;
      });
    }
    if (error.code === "auth_required") {
      var link = $("action-auth-link");
      link.href = safeHref(error.auth_url);
      var missing = Array.isArray(error.missing_scopes) ? error.missing_scopes.join(", ") : "";
      $("action-auth-text").textContent = missing
        ? "It needs the Twitch scopes " + missing + ". Approve them, then Run again."
        : "The Twitch authorization must be renewed. Approve it, then Run again.";
      $("action-auth").hidden = !error.auth_url;
    }
    var details = {};
    var any = false;
    Object.keys(error).forEach(function (k) { if (!SHOWN[k]) { details[k] = error[k]; any = true; } });
    if (any) {
      var pre = $("action-result-json");
      pre.textContent = JSON.stringify(details, null, 2);
      pre.hidden = false;
    }
    $("action-result").hidden = false;
    if (firstBad) firstBad.input.focus();
  }

  function run(event) {
    event.preventDefault();
    if (!chosen || running) return;
    clearResult();
    var args;
    try {
      args = readArgs();
    } catch (bad) {
      showError({ code: "invalid_args", message: "bad arguments for " + chosen.name, fields: [bad] });
      return;
    }
    var channel = $("action-channel").value;
    var path = "/actions/" + encodeURIComponent(chosen.name) +
      (channel ? "?channel=" + encodeURIComponent(channel) : "");
    var button = $("action-run");
    var action = chosen;
    running = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    var done = function () {
      running = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
    };
    api("POST", path, args).then(function (result) {
      done();
      if (chosen !== action) return;
      var data = result.data || {};
      if (result.ok && data.ok === true) showOk(data.result);
      else if (data && data.error && typeof data.error === "object") showError(data.error);
      else showError({ code: "failed", message: problem(result) });
    }, function () {
      done();
      notify("StreamCore did not answer.", "bad");
    });
  }

  // -- start ----------------------------------------------------------------------------------

  function init() {
    $("action-form").addEventListener("submit", run);
    return load();
  }

  D.actions = { init: init, load: load };
})(window);
