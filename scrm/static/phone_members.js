// The phone sandbox's 短信 (SMS) inbox: the verification codes the sandbox's SMS delivered to the
// numbers the customer typed on the member page (/c/member, opened from the menu's 会员中心).
// The server picks the customer's numbers (scrm/sandbox/phone_members.py); this page only draws.
// It reads the inbox every few seconds while the page is in view (the member page opens in
// another tab) and when it comes back into view: open, it lists the messages; closed, a badge
// counts what arrived unseen.
// Drawn with phone.js's window.scrmPhone.
(function () {
  "use strict";

  var phone = window.scrmPhone;
  var words = phone.words, urls = phone.urls, make = phone.make;
  var $ = function (id) { return document.getElementById(id); };
  var el = { toggle: $("sms"), badge: $("sms-new"), panel: $("sms-panel"), list: $("sms-list"), empty: $("no-sms") };
  var POLL_MS = 3000;
  var shownFor = null, seen = {}, timer = null, failing = false;
  var reading = null;  // whose inbox is being read

  function openid() {
    var c = phone.customer();
    return c ? c.openid : null;
  }

  function messageNode(m) {
    var item = make("li", "sms");
    item.dataset.id = m.id;
    var head = make("header");
    head.appendChild(make("span", "", words.sms_to.replace("{phone}", m.phone)));
    head.appendChild(make("time", "", new Date(m.at).toLocaleString()));
    item.appendChild(head);
    item.appendChild(make("p", "", m.text));
    if (m.code) {
      var code = make("span", "code", m.code);
      code.title = words.sms_code;
      item.appendChild(code);
    }
    return item;
  }

  function render(data) {
    el.list.textContent = "";
    data.messages.forEach(function (m) { el.list.appendChild(messageNode(m)); });
    el.empty.hidden = data.messages.length > 0;
  }

  function markNew(data) {
    var fresh = data.messages.filter(function (m) { return !seen[m.id]; }).length;
    el.badge.textContent = fresh ? String(fresh) : "";
    el.badge.hidden = !fresh || !el.panel.hidden;
    if (!el.panel.hidden) data.messages.forEach(function (m) { seen[m.id] = true; });
  }

  function read() {
    var who = openid();
    if (!who || reading === who) return Promise.resolve();
    reading = who;
    return phone.api("GET", urls.sms + "?openid=" + encodeURIComponent(who)).then(function (data) {
      if (openid() !== who) return;
      if (!el.panel.hidden) render(data);
      markNew(data);
      failing = false;
    }).catch(function (error) {
      if (!el.panel.hidden && !failing) phone.showError(error.message, error.signedOut);  // once, not each poll
      failing = true;
    }).then(function () { if (reading === who) reading = null; });
  }

  function setOpen(open) {
    el.panel.hidden = !open;
    el.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      el.badge.hidden = true;
      read();
    }
  }

  function poll() {
    if (timer) clearInterval(timer);
    timer = openid() ? setInterval(function () { if (!document.hidden) read(); }, POLL_MS) : null;
  }

  el.toggle.addEventListener("click", function () { setOpen(el.panel.hidden); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) read(); });
  window.addEventListener("focus", function () { read(); });

  phone.onCustomer(function (customer) {
    var who = customer ? customer.openid : null;
    el.toggle.disabled = !who;
    if (who !== shownFor) {  // another customer: their own inbox, nothing of the one before
      shownFor = who;
      seen = {};
      el.list.textContent = "";
      el.empty.hidden = true;
      el.badge.hidden = true;
      setOpen(false);
      poll();
      if (who) read();
    }
  });
})();
