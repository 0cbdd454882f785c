// The phone sandbox's customer groups: scan a group live code (a WeCom join way), "my groups"
// with what each group's owner sent there, quit a group, and send a waiting group message as
// the owner would in WeCom. The server plays WeCom and sends the product its callbacks
// (scrm/sandbox/phone_groups.py); this page only draws. Drawn with phone.js's window.scrmPhone.
(function () {
  "use strict";

  var phone = window.scrmPhone;
  var words = phone.words, urls = phone.urls, make = phone.make;
  var $ = function (id) { return document.getElementById(id); };
  var el = {
    actions: $("group-actions"), scan: $("scan-group"), mine: $("my-groups"), form: $("group-form"),
    way: $("join-way"), url: $("join-way-url"), join: $("join-group"), panel: $("groups-panel"),
    list: $("group-list"), empty: $("no-groups")
  };
  var busy = false, idle = true, shownFor = null;

  function openid() {
    var c = phone.customer();
    return c ? c.openid : null;
  }

  function failed(error) { phone.showError(error.message, error.signedOut); }

  function setDisabled() {
    var off = busy || !idle || !openid();
    [el.scan, el.mine, el.join].forEach(function (b) { b.disabled = off; });
    Array.prototype.forEach.call(el.list.querySelectorAll("button"), function (b) { b.disabled = off; });
  }

  function loadWays() {
    return phone.api("GET", urls.list_join_ways).then(function (data) {
      while (el.way.options.length > 1) el.way.remove(1);
      data.join_ways.forEach(function (w) {
        var option = new Option((w.remark || w.config_id) + (w.state ? " · " + w.state : ""), w.config_id);
        option.title = w.url;
        el.way.add(option);
      });
    }).catch(failed);
  }

  function button(className, text, onClick) {
    var node = make("button", "btn " + className, text);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function groupNode(g) {
    var item = make("li", "group");
    item.dataset.chatId = g.chat_id;
    var head = make("header");
    head.appendChild(make("b", "", g.name || g.chat_id));
    head.appendChild(make("small", "", g.member_count + " " + words.members));
    head.appendChild(button("quit-group", words.quit_group, function () { leave(g.chat_id); }));
    item.appendChild(head);
    g.messages.forEach(function (m) {
      var said = make("div", "said");
      said.appendChild(make("small", "", m.from + " · " + new Date(m.at).toLocaleString()));
      said.appendChild(document.createTextNode(m.text));
      item.appendChild(said);
    });
    if (!g.messages.length) item.appendChild(make("div", "said", words.no_group_messages));
    g.waiting.forEach(function (task) {
      var row = make("div", "waiting");
      row.dataset.msgid = task.msgid;
      row.appendChild(make("span", "", words.waiting + task.text));
      row.appendChild(button("owner-send", words.owner_send, function () { ownerSend(g.chat_id, task.msgid); }));
      item.appendChild(row);
    });
    return item;
  }

  function renderGroups(groups) {
    el.list.textContent = "";
    groups.forEach(function (g) { el.list.appendChild(groupNode(g)); });
    el.empty.hidden = groups.length > 0;
    setDisabled();
  }

  function loadGroups() {
    var who = openid();
    if (!who) return Promise.resolve();
    return phone.api("GET", urls.groups + "?openid=" + encodeURIComponent(who)).then(function (data) {
      if (openid() === who) renderGroups(data.groups);
    }).catch(failed);
  }

  // One write at a time; its answer carries the customer's groups as they are now.
  function write(url, body, done) {
    var who = openid();
    if (!who || busy) return Promise.resolve();
    busy = true;
    setDisabled();
    body.openid = who;
    return phone.api("POST", url, body).then(function (data) {
      if (openid() !== who) return;
      if (data.messages) phone.addMessages(data.messages);
      renderGroups(data.groups);
      el.panel.hidden = false;
      if (done) done(data);
    }).catch(failed).then(function () { busy = false; setDisabled(); });
  }

  function leave(chatId) { return write(urls.leave_group, { chat_id: chatId }); }

  function ownerSend(chatId, msgid) { return write(urls.owner_send, { chat_id: chatId, msgid: msgid }); }

  el.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var url = el.url.value.trim(), configId = el.way.value;
    if (!url && !configId) {
      el.url.placeholder = words.pick_way;
      el.way.focus();
      return;
    }
    write(urls.join_group, url ? { url: url } : { config_id: configId }, function () {
      el.url.value = "";
      el.way.value = "";
      el.form.hidden = true;
    });
  });
  el.scan.addEventListener("click", function () {
    el.form.hidden = !el.form.hidden;
    if (!el.form.hidden) loadWays();
  });
  el.mine.addEventListener("click", function () {
    el.panel.hidden = !el.panel.hidden;
    if (!el.panel.hidden) loadGroups();
  });

  phone.onCustomer(function (customer, pageIdle) {
    idle = pageIdle;
    el.actions.hidden = !customer;
    var who = customer ? customer.openid : null;
    if (who !== shownFor) {  // another customer: their own groups, read when asked
      shownFor = who;
      el.form.hidden = true;
      el.panel.hidden = true;
      el.list.textContent = "";
    }
    setDisabled();
  });
})();
