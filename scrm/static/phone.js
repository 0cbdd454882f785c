// The phone sandbox's page: a customer's WeChat chat with the Official Account.
// Every action is posted to /sandbox/phone/api/send, which sends a signed callback to the
// real webhook and answers with the reply; the page only draws.
(function () {
  "use strict";

  var boot = JSON.parse(document.getElementById("phone-boot").textContent);
  var urls = boot.urls;
  var words = boot.words;  // the page's own words, in the reader's language (phone.html)
  var $ = function (id) { return document.getElementById(id); };
  var el = {
    customer: $("customer"), newCustomer: $("new-customer"), actions: $("actions"), status: $("status"),
    scan: $("scan"), follow: $("follow"), scanForm: $("scan-form"), scene: $("scene"), chat: $("chat"),
    welcome: $("welcome"), composer: $("composer"), text: $("text"), send: $("send"), menu: $("menu")
  };
  // loading: the customer whose chat is being read (their openid), else null. Until it is read the
  // page still shows the one chosen before, whose buttons must not act in the meantime.
  var state = { customers: boot.customers, customer: null, messages: [], busy: false, loading: null, pollTimers: [] };
  var customerListeners = [];  // phone_groups.js: told of the chosen customer and whether the page is idle
  var TIME_GAP_MS = 5 * 60 * 1000;
  var POLL_AFTER_MS = [1500, 4000, 9000]; // replies the account sends later, through the API

  function api(method, url, body) {
    var options = { method: method, headers: { "Accept": "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = boot.csrf_token;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || ("HTTP " + response.status));
          error.signedOut = response.status === 401;  // the console's sign-in ended: offer to sign in again
          throw error;
        }
        return data;
      });
    });
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- customers ----------------------------------------------------------------------

  function optionLabel(c) {
    var openid = c.openid.length > 16 ? c.openid.slice(0, 14) + "…" : c.openid;
    return (c.nickname || "—") + " · " + openid + (c.following ? " · " + words.following : "");
  }

  function renderOptions() {
    var select = el.customer;
    while (select.options.length > 1) select.remove(1);
    state.customers.forEach(function (c) {
      var option = new Option(optionLabel(c), c.openid);
      option.title = c.openid;
      select.add(option);
    });
    if (state.customer) select.value = state.customer.openid;
  }

  // choose false: only the list learns of them (an answer for a customer no longer chosen).
  function rememberCustomer(customer, choose) {
    var known = state.customers.filter(function (c) { return c.openid === customer.openid; })[0];
    if (known) { known.nickname = customer.nickname; known.following = customer.following; }
    else state.customers.unshift(customer);
    if (choose !== false) state.customer = customer;
    renderOptions();
  }

  function renderCustomer() {
    var c = state.customer;
    el.actions.hidden = !c;
    el.welcome.hidden = !!c;
    var following = !!(c && c.following);
    var idle = !state.busy && !state.loading;
    if (c) {
      el.status.textContent = "";
      el.status.appendChild(make("b", "", c.nickname || c.openid));
      el.status.appendChild(document.createTextNode(" "));
      el.status.appendChild(make("span", following ? "on" : "", following ? words.following : words.not_following));
      el.status.title = c.openid;
      el.follow.textContent = following ? words.unfollow : words.follow;
      el.follow.className = following ? "btn" : "btn primary";
    }
    el.follow.disabled = !c || !idle;
    // Not while a chat loads (the remembered customer's, on opening the page): its answer would
    // otherwise land after the new customer's and take their place.
    el.newCustomer.disabled = !!state.creating || !!state.loading || !!state.busy;
    el.scan.disabled = !c || !idle;
    el.text.disabled = !following;
    el.send.disabled = !following || !idle;
    el.text.placeholder = !c ? words.pick_customer : following ? words.message : words.follow_first;
    Array.prototype.forEach.call(el.menu.querySelectorAll("button"), function (b) { b.disabled = !following || !idle; });
    customerListeners.forEach(function (listen) { listen(c, idle); });
  }

  function select(openid) {
    clearPolls();
    el.scanForm.hidden = true;
    if (!openid) {
      state.loading = null;
      state.customer = null;
      state.messages = [];
      history.replaceState(null, "", location.pathname);
      renderMessages();
      renderCustomer();
      return Promise.resolve();
    }
    state.loading = openid;
    renderCustomer();
    return api("GET", urls.conversation + "?openid=" + encodeURIComponent(openid)).then(function (data) {
      if (state.loading !== openid) return;  // another customer was chosen meanwhile
      state.loading = null;
      rememberCustomer(data.customer);
      state.messages = data.messages;
      history.replaceState(null, "", location.pathname + "?openid=" + encodeURIComponent(openid));
      try { localStorage.setItem("scrm.phone.openid", openid); } catch (e) { /* private mode */ }
      renderMessages();
      renderCustomer();
    }).catch(function (error) {
      if (state.loading === openid) state.loading = null;
      renderCustomer();
      showError(error.message, error.signedOut);
    });
  }

  function newCustomer() {
    state.creating = true;
    el.newCustomer.disabled = true;
    return api("POST", urls.customers, {}).then(function (customer) {
      rememberCustomer(customer);
      return select(customer.openid);
    }).catch(function (error) { showError(error.message, error.signedOut); })
      .then(function () { state.creating = false; renderCustomer(); });
  }

  // ---- the chat -----------------------------------------------------------------------

  function articleNode(article) {
    var safe = /^https?:\/\//i.test(article.url || "");
    var node = make(safe ? "a" : "div", "article");
    if (safe) { node.href = article.url; node.target = "_blank"; node.rel = "noopener noreferrer"; }
    node.appendChild(make("strong", "", article.title || ""));
    if (article.description) node.appendChild(make("span", "", article.description));
    if (safe) node.appendChild(make("em", "", words.read_more));
    return node;
  }

  // A page the phone opened (a product code scanned: phone_products.js): the line, its link to
  // open the page again in WeChat's browser, and for a customer who does not follow, the follow a
  // long press on the page's QR code makes (its scene completes what the page asked for).
  function linkNote(m) {
    var note = make("div", "note link"), line = make("span", "", m.text);
    (m.articles || []).forEach(function (article) {
      var url = article.url || "";
      if (/^\/(?!\/)/.test(url)) {  // a page of this site only
        var link = make("a", "", words.open_page);
        link.href = url; link.target = "_blank"; link.title = article.title || url;
        line.appendChild(link);
      }
      if (article.scene) {
        var follow = make("button", "", words.follow_by_code);
        follow.type = "button";
        follow.dataset.scene = article.scene;
        follow.addEventListener("click", function () { act("scan", article.scene); });
        line.appendChild(follow);
      }
    });
    note.appendChild(line);
    return note;
  }

  function messageNode(m) {
    if (m.from === "note" && m.kind === "link") return linkNote(m);
    if (m.from === "note") {
      var note = make("div", "note");
      note.appendChild(make("span", "", m.text));
      return note;
    }
    var row = make("div", "msg " + (m.from === "me" ? "me" : m.from === "group" ? "account group" : "account"));
    var c = state.customer;
    var initial = m.from === "me" ? ((c && c.nickname) || words.me).charAt(0) : m.from === "group" ? words.group.charAt(0) : words.account;
    row.appendChild(make("div", "avatar", initial));
    var bubble;
    if (m.kind === "news") {
      bubble = make("div", "bubble news");
      (m.articles || []).forEach(function (a) { bubble.appendChild(articleNode(a)); });
    } else {
      bubble = make("div", "bubble", m.text);
    }
    row.appendChild(bubble);
    return row;
  }

  function timeNode(at) {
    var when = new Date(at);
    var text = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (when.toDateString() !== new Date().toDateString()) text = when.toLocaleDateString() + " " + text;
    var node = make("div", "note time");
    node.appendChild(make("span", "", text));
    return node;
  }

  function appendMessages(messages, previous) {
    Array.prototype.forEach.call(el.chat.querySelectorAll(".hint"), function (hint) { hint.remove(); });
    var last = previous ? Date.parse(previous.at) : 0;
    messages.forEach(function (m) {
      var at = Date.parse(m.at);
      if (!last || at - last > TIME_GAP_MS) el.chat.appendChild(timeNode(m.at));
      last = at;
      el.chat.appendChild(messageNode(m));
    });
    scrollDown();
  }

  function renderMessages() {
    Array.prototype.slice.call(el.chat.children).forEach(function (child) {
      if (child !== el.welcome) el.chat.removeChild(child);
    });
    appendMessages(state.messages, null);
    if (state.customer && !state.messages.length) {
      var hint = make("div", "note hint");
      hint.appendChild(make("span", "", words.start_hint));
      el.chat.appendChild(hint);
    }
  }

  function scrollDown() { el.chat.scrollTop = el.chat.scrollHeight; }

  function showError(message, signedOut) {
    var note = make("div", "note error"), line = make("span", "", "⚠ " + message);
    if (signedOut) {  // inside the note's pill, as one line
      var again = make("a", "", words.sign_in_again);
      again.href = "/login?next=" + encodeURIComponent(location.pathname);
      line.appendChild(document.createTextNode(" "));
      line.appendChild(again);
    }
    note.appendChild(line);
    el.chat.appendChild(note);
    scrollDown();
  }

  function clearPolls() {
    state.pollTimers.forEach(clearTimeout);
    state.pollTimers = [];
  }

  // Customer-service messages, coupons and the like arrive after the passive reply.
  function pollForLaterMessages(openid) {
    clearPolls();
    state.pollTimers = POLL_AFTER_MS.map(function (delay) {
      return setTimeout(function () {
        if (state.busy || !state.customer || state.customer.openid !== openid) return;
        api("GET", urls.conversation + "?openid=" + encodeURIComponent(openid)).then(function (data) {
          if (state.busy || !state.customer || state.customer.openid !== openid) return;
          if (data.messages.length !== state.messages.length) {
            state.messages = data.messages;
            renderMessages();
          }
        }).catch(function () { /* the next action shows any error */ });
      }, delay);
    });
  }

  // ---- actions ------------------------------------------------------------------------

  function act(action, value) {
    var c = state.customer;
    if (!c || state.busy || state.loading) return Promise.resolve(false);
    state.busy = true;
    clearPolls();
    renderCustomer();
    var pending = null;
    if (action === "text") {
      pending = messageNode({ from: "me", kind: "text", text: value });
      pending.classList.add("pending");
      el.chat.appendChild(pending);
    }
    var typing = make("div", "msg account typing");
    typing.appendChild(make("div", "avatar", words.account));
    typing.appendChild(make("div", "bubble", "…"));
    el.chat.appendChild(typing);
    scrollDown();
    return api("POST", urls.send, { openid: c.openid, action: action, value: value }).then(function (result) {
      if (pending) pending.remove();
      typing.remove();
      if (state.loading || !state.customer || state.customer.openid !== c.openid) {
        // Another customer was chosen while this went: the answer is in the sender's chat (read
        // again when they are chosen), not in the one on screen.
        rememberCustomer(result.customer, false);
        return true;
      }
      var previous = state.messages[state.messages.length - 1] || null;
      state.messages = state.messages.concat(result.messages);
      appendMessages(result.messages, previous);
      rememberCustomer(result.customer);
      pollForLaterMessages(c.openid);
      return true;
    }).catch(function (error) {
      if (pending) pending.remove();
      typing.remove();
      showError(error.message, error.signedOut);
      return false;
    }).then(function (ok) {
      state.busy = false;
      renderCustomer();
      return ok;
    });
  }

  // The account's menu: up to three slots; a slot with sub-buttons opens them above it, as WeChat does.
  function menuButton(item, className) {
    var button = make("button", className || "", item.label + (item.kind === "view" ? " ↗" : ""));
    button.type = "button";
    button.dataset.kind = item.kind;
    button.dataset.value = item.value;
    return button;
  }

  function closeMenus(except) {
    Array.prototype.forEach.call(el.menu.querySelectorAll(".pop"), function (p) { if (p !== except) p.hidden = true; });
  }

  function renderMenu() {
    boot.menu.forEach(function (item) {
      var slot = make("div", "slot", "");
      if (item.sub && item.sub.length) {
        var opener = menuButton({ kind: "sub", value: "", label: "≡ " + item.label });
        var pop = make("div", "pop", "");
        pop.hidden = true;
        item.sub.forEach(function (sub) {
          var button = menuButton(sub);
          button.addEventListener("click", function () { pop.hidden = true; act(sub.kind, sub.value); });
          pop.appendChild(button);
        });
        opener.setAttribute("aria-haspopup", "true");
        opener.addEventListener("click", function () { closeMenus(pop); pop.hidden = !pop.hidden; });
        slot.appendChild(pop);
        slot.appendChild(opener);
      } else {
        var button = menuButton(item);
        button.addEventListener("click", function () { closeMenus(null); act(item.kind, item.value); });
        slot.appendChild(button);
      }
      el.menu.appendChild(slot);
    });
  }

  el.customer.addEventListener("change", function () { select(el.customer.value); });
  el.newCustomer.addEventListener("click", newCustomer);
  el.follow.addEventListener("click", function () {
    act(state.customer && state.customer.following ? "unfollow" : "follow", "");
  });
  el.scan.addEventListener("click", function () {
    el.scanForm.hidden = !el.scanForm.hidden;
    if (!el.scanForm.hidden) el.scene.focus();
  });
  el.scanForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var scene = el.scene.value.trim();
    if (!scene) { el.scene.focus(); return; }
    act("scan", scene).then(function (ok) {
      if (ok) { el.scene.value = ""; el.scanForm.hidden = true; }
    });
  });
  el.composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = el.text.value.trim();
    if (!text) { el.text.focus(); return; }
    el.text.value = "";
    act("text", text).then(function (ok) {
      if (!ok && !el.text.value) el.text.value = text;
      el.text.focus();
    });
  });

  // What phone_groups.js (the customer's groups) draws with.
  window.scrmPhone = {
    api: api, make: make, words: words, urls: urls, showError: showError,
    customer: function () { return state.customer; },
    rememberCustomer: function (customer, choose) { rememberCustomer(customer, choose); renderCustomer(); },
    onCustomer: function (listen) { customerListeners.push(listen); listen(state.customer, !state.busy && !state.loading); },
    addMessages: function (messages) {
      var previous = state.messages[state.messages.length - 1] || null;
      state.messages = state.messages.concat(messages);
      appendMessages(messages, previous);
    }
  };

  renderMenu();
  renderOptions();
  renderCustomer();
  var wanted = new URLSearchParams(location.search).get("openid");
  if (!wanted) {
    var last = null;
    try { last = localStorage.getItem("scrm.phone.openid"); } catch (e) { /* private mode */ }
    // Only someone still in the sandbox: a memory:// restart forgets everyone.
    if (state.customers.some(function (c) { return c.openid === last; })) wanted = last;
  }
  if (wanted) select(wanted);
})();
