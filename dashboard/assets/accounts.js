/* The bot and moderator accounts on the Twitch connection card: who each is (or that none is
 * set), its token state, a link to authorize it (opened while signed in to Twitch as that
 * account) and a button to remove it. */
(function (global) {
  "use strict";

  var D = global.SCDashboard;
  var $ = D.$, el = D.el, clear = D.clear, api = D.api, notify = D.notify, problem = D.problem;

  var ROLES = [
    { role: "bot", label: "Chat bot", hint: "chats for StreamCore instead of the broadcaster" },
    { role: "moderator", label: "Moderator", hint: "signs announcements, shoutouts and moderator subscriptions" },
  ];

  function authorize(role, button) {
    button.disabled = true;
    api("GET", "/tokens/link?account=" + role).then(function (result) {
      button.disabled = false;
      var url = result.ok && result.data ? String(result.data.auth_url || "") : "";
      if (/^https?:\/\//.test(url)) window.location.assign(url);
      else notify("Could not start the authorization: " + problem(result), "bad");
    }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
  }

  function remove(role, button) {
    button.disabled = true;
    api("DELETE", "/tokens/accounts/" + role).then(function (result) {
      notify(result.ok ? "Removed the " + role + " account." : "Could not remove it: " + problem(result),
        result.ok ? "ok" : "bad");
      refresh();
    }, function () { button.disabled = false; notify("StreamCore did not answer.", "bad"); });
  }

  function render(accounts) {
    var list = $("accounts");
    clear(list);
    ROLES.forEach(function (spec) {
      var account = accounts[spec.role];
      var item = el("li");
      item.setAttribute("data-role", spec.role);
      item.appendChild(el("strong", spec.label));
      if (account) {
        item.appendChild(el("span", account.login, "account-login"));
        item.appendChild(D.pill(account.token_state === "invalid" ? "token invalid" : "ok",
          account.token_state === "invalid" ? "failed" : "ok"));
      } else {
        item.appendChild(el("span", "not set: the broadcaster acts (" + spec.hint + ")", "muted"));
      }
      var link = el("button", account ? "Authorize again" : "Authorize", "btn small");
      link.type = "button";
      link.addEventListener("click", function () { authorize(spec.role, link); });
      item.appendChild(link);
      if (account) {
        var drop = el("button", "Remove", "btn small danger");
        drop.type = "button";
        drop.setAttribute("aria-label", "Remove the " + spec.role + " account");
        drop.addEventListener("click", function () { remove(spec.role, drop); });
        item.appendChild(drop);
      }
      list.appendChild(item);
    });
  }

  function refresh() {
    return api("GET", "/tokens").then(function (result) {
      if (result.ok && result.data) render(result.data.accounts || {});
    }, function () { /* the status card already says StreamCore is unreachable */ });
  }

  D.accounts = { init: refresh, refresh: refresh };
})(window);
