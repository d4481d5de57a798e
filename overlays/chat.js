/* Chat box: messages with emotes rendered from fragments; deleted messages disappear. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var MAX = parseInt(params.get("max") || "15", 10);
  var chat = document.getElementById("chat");

  /** An emote's name as text, shown where its image is missing or cannot load. */
  function emoteText(text) {
    var span = document.createElement("span");
    span.className = "emote-text";
    span.textContent = text || "";
    return span;
  }

  function fragmentNode(fragment) {
    if (fragment.type === "emote" && fragment.emote && fragment.emote.url) {
      // The image and, hidden until it fails to load (the CDN is unreachable, say), its name.
      var wrap = document.createElement("span");
      wrap.className = "emote-wrap";
      var img = document.createElement("img");
      img.className = "emote";
      img.alt = fragment.text;
      img.title = fragment.text;
      var fallback = emoteText(fragment.text);
      fallback.hidden = true;
      img.addEventListener("error", function () {
        img.hidden = true;
        fallback.hidden = false;
      });
      img.src = fragment.emote.url;
      wrap.appendChild(img);
      wrap.appendChild(fallback);
      return wrap;
    }
    if (fragment.type === "emote") return emoteText(fragment.text);
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
