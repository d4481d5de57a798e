/* Chat box: messages with emotes rendered from fragments; deleted messages disappear. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var MAX = parseInt(params.get("max") || "15", 10);
  var chat = document.getElementById("chat");

  function fragmentNode(fragment) {
    if (fragment.type === "emote" && fragment.emote && fragment.emote.url) {
      var img = document.createElement("img");
      img.className = "emote";
      img.src = fragment.emote.url;
      img.alt = fragment.text;
      img.title = fragment.text;
      return img;
    }
    if (fragment.type === "mention") {
      var span = document.createElement("span");
      span.className = "mention";
      span.textContent = fragment.text;
      return span;
    }
    return document.createTextNode(fragment.text || "");
  }

  function render(data) {
    var line = document.createElement("div");
    line.className = "message";
    if (data.id) line.dataset.id = data.id;
    var user = data.user || {};
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = (user.name || user.login || "someone") + ":";
    if (user.color) name.style.color = user.color;
    line.appendChild(name);
    var fragments = Array.isArray(data.fragments) && data.fragments.length
      ? data.fragments : [{ type: "text", text: data.text || "" }];
    fragments.forEach(function (fragment) { line.appendChild(fragmentNode(fragment)); });
    chat.appendChild(line);
    while (chat.children.length > MAX) chat.removeChild(chat.firstChild);
  }

  var sc = StreamCore.connect({
    events: params.get("events") || "chat.*",
    onStatus: function (state, detail) {
      var status = document.getElementById("status");
      status.className = "status " + state;
      status.textContent = state === "failed" ? "StreamCore: " + (detail.reason || "refused") : state;
    },
  });
  sc.on("chat.message", render);
  sc.on("chat.delete", function (data) {
    var gone = chat.querySelector('[data-id="' + CSS.escape(String(data.message_id)) + '"]');
    if (gone) gone.remove();
  });
  window.streamcore = sc;
})();
