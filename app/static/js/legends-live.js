// Legends live updates on a game page: level-ups, quest completions, achievements and
// leaderboard moves arrive over server-sent events from the streaming process, opened by
// htmx's SSE extension (vendor/htmx-ext-sse.js). Each event shows a toast and re-fetches the
// regions it changes (#legends-me: level and XP; #legends-board: the leaderboard). When the
// stream cannot be opened (no EventSource, Redis down, link expired) the page polls the
// game's feed instead, and it catches up once each time the stream opens. Events carry
// `event_id` (the feed row): each is handled once, whichever way it came.
//
// Pages: a member's game container `#legends-live[data-feed-url]` (the link is asked for at
// GET …/live-link), or templates/legends/_live.html, which renders the signed link itself.
(function () {
  "use strict";
  if (window.tradepostLegendsLive) {
    return; // a boosted navigation ran this file again: the document listeners are in place
  }
  window.tradepostLegendsLive = true;

  var EVENTS = ["xp_awarded", "level_up", "quest_completed", "quest_claimed", "achievement_unlocked", "prestige", "leaderboard_moved"];
  var TOAST_SECONDS = 8;
  var MAX_TOASTS = 4;
  var REFRESH_DELAY_MS = 250; // a burst of events (XP, level-up, quest, board) → one fetch per region
  var state = new WeakMap();

  function stateOf(el) {
    var s = state.get(el);
    if (!s) {
      s = { lastId: parseInt(el.dataset.lastEventId || "0", 10) || 0, seen: {}, poller: null, sources: [] };
      state.set(el, s);
    }
    return s;
  }

  function setStatus(el, mode) {
    el.dataset.liveMode = mode;
    var status = el.querySelector("[data-legends-status]");
    if (!status) {
      return;
    }
    var seconds = pollSeconds(el);
    status.textContent = mode === "live" ? "Live" : mode === "polling" ? "Updating every " + seconds + " s" : "Connecting…";
  }

  function pollSeconds(el) {
    return Math.max(parseFloat(el.dataset.pollSeconds || "15") || 15, 1);
  }

  function text(name, data, el) {
    var mine = String(data.user_id) === el.dataset.userId;
    switch (name) {
      case "level_up":
        return "Level up! You reached level " + data.level + ".";
      case "xp_awarded":
        return "+" + data.amount + " XP";
      case "quest_completed":
        return "Quest complete: " + data.title + " (claim " + data.reward_xp + " XP).";
      case "quest_claimed":
        return "Reward claimed: " + data.title + ".";
      case "achievement_unlocked":
        return "Achievement unlocked: " + data.name + ".";
      case "prestige":
        return "Prestige " + data.prestige + "! Your level starts again.";
      case "leaderboard_moved":
        return mine ? "You are now #" + data.rank + " on the leaderboard." : null;
    }
    return null;
  }

  // Past MAX_TOASTS the oldest goes first, but level-ups, achievements and prestige outstay XP.
  var LASTING = { level_up: true, achievement_unlocked: true, prestige: true };

  function toast(el, message, name) {
    var box = el.querySelector("[data-legends-toasts]");
    if (!box || !message) {
      return;
    }
    var item = document.createElement("p");
    item.className = "legends-toast";
    if (LASTING[name]) {
      item.dataset.lasting = "1";
    }
    item.textContent = message;
    // Lasting toasts stay last: a phone shows only the last one (legends-live.css), and a
    // level-up must not give way to the "+XP" that came with it.
    box.insertBefore(item, LASTING[name] ? null : box.querySelector(".legends-toast[data-lasting]"));
    while (box.children.length > MAX_TOASTS) {
      box.removeChild(box.querySelector(".legends-toast:not([data-lasting])") || box.firstElementChild);
    }
    window.setTimeout(function () {
      item.remove();
    }, TOAST_SECONDS * 1000);
  }

  function regionUrl(region, el, suffix) {
    var game = el.closest("#legends-live");
    var named = region.dataset.refreshUrl || (game && game.dataset[suffix + "Url"]);
    if (named) {
      return named;
    }
    var feed = el.dataset.feedUrl || "";
    return feed ? feed.replace(/\/feed(\?.*)?$/, "/" + suffix) : null;
  }

  var pending = {};

  function refresh(el, selector, suffix) {
    if (pending[selector]) {
      return;
    }
    pending[selector] = window.setTimeout(function () {
      pending[selector] = null;
      var region = document.querySelector(selector);
      if (!region || !window.htmx) {
        return;
      }
      var url = regionUrl(region, el, suffix);
      if (url) {
        htmx.ajax("GET", url, { target: region, swap: region.dataset.refreshSwap || "outerHTML" });
      }
    }, REFRESH_DELAY_MS);
  }

  function handle(el, name, data) {
    var s = stateOf(el);
    var id = data && typeof data.event_id === "number" ? data.event_id : null;
    if (id !== null) {
      if (s.seen[id]) {
        return;
      }
      s.seen[id] = true;
      s.lastId = Math.max(s.lastId, id);
      el.dataset.lastEventId = String(s.lastId);
    }
    toast(el, text(name, data, el), name);
    // The member's own XP changes their row on the board too; a move changes the board.
    if (name !== "leaderboard_moved") {
      refresh(el, "#legends-me", "me");
    }
    refresh(el, "#legends-board", "board");
    el.dispatchEvent(new CustomEvent("legends:" + name, { bubbles: true, detail: data }));
  }

  function poll(el) {
    var feed = el.dataset.feedUrl;
    if (!feed) {
      return Promise.resolve();
    }
    var url = feed + (feed.indexOf("?") < 0 ? "?" : "&") + "after=" + stateOf(el).lastId;
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : { events: [] };
      })
      .then(function (body) {
        (body.events || []).forEach(function (item) {
          var data = item.data || {};
          if (typeof data.event_id !== "number") {
            data.event_id = item.id;
          }
          handle(el, item.event, data);
        });
      })
      .catch(function () {});
  }

  function startPolling(el) {
    var s = stateOf(el);
    setStatus(el, "polling");
    if (s.poller === null) {
      s.poller = window.setInterval(function () {
        if (!document.body.contains(el)) {
          stopPolling(el);
          return;
        }
        poll(el);
      }, pollSeconds(el) * 1000);
    }
  }

  function stopPolling(el) {
    var s = stateOf(el);
    if (s.poller !== null) {
      window.clearInterval(s.poller);
      s.poller = null;
    }
  }

  function listen(el, source) {
    var s = stateOf(el);
    if (s.sources.indexOf(source) >= 0) {
      return;
    }
    s.sources.push(source);
    EVENTS.forEach(function (name) {
      source.addEventListener(name, function (message) {
        var data;
        try {
          data = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        handle(el, name, data || {});
      });
    });
    // Redis went away under the stream: it ends and the extension reconnects; poll meanwhile.
    source.addEventListener("unavailable", function () {
      startPolling(el);
    });
  }

  function streamElement(event) {
    var target = event.target;
    return target && target.closest ? target.closest("[data-legends-stream]") : null;
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    var el = streamElement(event);
    if (!el) {
      return;
    }
    listen(el, event.detail.source);
    stopPolling(el);
    setStatus(el, "live");
    poll(el); // whatever happened before this connection (page render, reconnect gap)
  });

  document.addEventListener("htmx:sseError", function (event) {
    var el = streamElement(event);
    if (el) {
      startPolling(el);
    }
  });

  // Connect each stream element once the SSE extension is there (script order is not
  // guaranteed when hx-boost swaps a page in): its address goes into sse-connect, then htmx
  // processes the element and the extension opens the EventSource.
  function wire(el, attempts) {
    if (el.dataset.legendsWired) {
      return;
    }
    var url = el.dataset.streamUrl;
    if (!url || typeof window.EventSource !== "function") {
      el.dataset.legendsWired = "poll";
      startPolling(el);
      return;
    }
    if (!window.htmx || typeof htmx.createEventSource !== "function") {
      if (attempts < 50) {
        window.setTimeout(function () {
          wire(el, attempts + 1);
        }, 100);
      } else {
        el.dataset.legendsWired = "poll";
        startPolling(el);
      }
      return;
    }
    el.dataset.legendsWired = "sse";
    el.setAttribute("hx-ext", "sse");
    el.setAttribute("sse-connect", url);
    htmx.process(el);
  }

  function within(scope, selector) {
    var found = Array.prototype.slice.call(scope.querySelectorAll(selector));
    if (scope.matches && scope.matches(selector)) {
      found.push(scope);
    }
    return found;
  }

  // A member's game page without the partial: add the status line and the toasts, ask the
  // web app for this member's signed stream link, then connect.
  function adopt(game) {
    if (game.querySelector("[data-legends-stream]")) {
      return;
    }
    var el = document.createElement("div");
    el.className = "legends-live";
    el.setAttribute("data-legends-stream", "");
    el.dataset.feedUrl = game.dataset.feedUrl;
    el.dataset.lastEventId = game.dataset.lastEventId || "0";
    if (game.dataset.userId) {
      el.dataset.userId = game.dataset.userId;
    }
    el.innerHTML =
      '<p class="legends-live-status"><span class="legends-live-dot" aria-hidden="true"></span><span data-legends-status>Connecting…</span></p>' +
      '<div class="legends-toasts" role="status" aria-live="polite" data-legends-toasts></div>';
    game.insertBefore(el, game.firstChild);
    var link = game.dataset.liveLinkUrl || game.dataset.feedUrl.replace(/\/feed(\?.*)?$/, "/live-link");
    fetch(link + "?after=" + el.dataset.lastEventId, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : {};
      })
      .catch(function () {
        return {};
      })
      .then(function (body) {
        if (body.url) {
          el.dataset.streamUrl = body.url;
          el.dataset.userId = String(body.user_id);
        }
        wire(el, 0);
      });
  }

  function wireAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    within(scope, "#legends-live[data-feed-url]").forEach(adopt);
    within(scope, "[data-legends-stream][data-stream-url]").forEach(function (el) {
      wire(el, 0);
    });
  }

  document.addEventListener("htmx:load", function (event) {
    wireAll(event.detail.elt);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      wireAll(document);
    });
  } else {
    wireAll(document);
  }
})();
