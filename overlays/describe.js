/* Human text for StreamCore events, shared by the alert box and the event feed. */
(function (global) {
  "use strict";
  function who(data) {
    if (!data) return "Someone";
    if (data.anonymous) return "Anonymous";
    var user = data.user;
    if (user && typeof user === "object") return user.name || user.login || "Someone";
    return user || data.user_name || data.name || "Someone";
  }
  function tier(data) {
    var t = String((data && data.tier) || "1000");
    return t === "prime" || t === "Prime" ? "Prime" : "Tier " + (parseInt(t, 10) / 1000 || 1);
  }
  /** "1 bit", "500 bits": a count with its noun, singular for exactly one. */
  function count(n, singular, plural) {
    var value = Number(n);
    if (!isFinite(value)) value = 0;
    return value + " " + (value === 1 ? singular : plural || singular + "s");
  }
  function text(value) {
    if (typeof value === "string") return value;
    return value && typeof value.text === "string" ? value.text : "";
  }
  var ALERTS = {
    "alert.follow": function (d) { return { kind: "follow", title: who(d) + " followed!", detail: "Welcome aboard" }; },
    "alert.sub": function (d) { return { kind: "sub", title: who(d) + " subscribed!", detail: tier(d) }; },
    "alert.resub": function (d) {
      var message = text(d.message);
      return { kind: "sub", title: who(d) + " resubscribed!",
        detail: count(d.months || d.duration_months || 1, "month") + (message ? " - " + message : "") };
    },
    "alert.gift": function (d) { return { kind: "gift", title: who(d) + " gifted " + count(d.count || 1, "sub") + "!", detail: tier(d) }; },
    "alert.cheer": function (d) { return { kind: "cheer", title: who(d) + " cheered " + count(d.bits || 0, "bit") + "!", detail: text(d.message) }; },
    "alert.raid": function (d) { return { kind: "raid", title: who(d) + " is raiding!", detail: count(d.viewers || 0, "viewer") }; },
  };
  /** What the viewer typed with a redemption: `input` (StreamCore's redemption event); Twitch's
   * own field name, `user_input`, is accepted too for pages fed raw EventSub data. */
  function redemptionInput(d) {
    var input = typeof d.input === "string" ? d.input : d.user_input;
    return typeof input === "string" ? input : "";
  }
  function describe(envelope) {
    var make = ALERTS[envelope.event];
    if (make) return make(envelope.data || {});
    var d = envelope.data || {};
    switch (envelope.event) {
      case "redemption": return { kind: "redemption", title: who(d) + " redeemed " + ((d.reward && d.reward.title) || "a reward"), detail: redemptionInput(d) };
      case "stream.online": return { kind: "stream", title: "Stream is live", detail: "" };
      case "stream.offline": return { kind: "stream", title: "Stream ended", detail: "" };
      default:
        if (envelope.event.indexOf("hype_train.") === 0) return { kind: "hype", title: "Hype train: " + envelope.event.slice(11), detail: d.level ? "Level " + d.level : "" };
        return { kind: "other", title: envelope.event, detail: "" };
    }
  }
  global.StreamCoreDescribe = { describe: describe, who: who, isAlert: function (name) { return !!ALERTS[name]; } };
})(window);
