// The phone sandbox's 扫商品码: scan the code on a product's package (一物一码). Pick a batch of
// the database and a serial (the package's label), or paste a code or a /p/ link; the server
// (scrm/sandbox/phone_products.py) answers with the chat's line and the link that opens the
// claim page in WeChat's browser as this customer, which this page opens in a new tab, as
// WeChat's scanner would. Drawn with phone.js's window.scrmPhone.
(function () {
  "use strict";

  var phone = window.scrmPhone;
  var words = phone.words, urls = phone.urls;
  var $ = function (id) { return document.getElementById(id); };
  var el = {
    toggle: $("scan-product"), form: $("product-form"), batch: $("product-batch"), serial: $("product-serial"),
    code: $("product-code"), submit: $("open-product"), none: $("no-batches")
  };
  var busy = false, idle = true, shownFor = null, quantities = {};

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  function setDisabled() {
    var off = busy || !idle || !phone.customer();
    el.toggle.disabled = !phone.customer();
    el.submit.disabled = off;
  }

  function loadBatches() {
    return phone.api("GET", urls.product_batches).then(function (data) {
      var chosen = el.batch.value;
      while (el.batch.options.length > 1) el.batch.remove(1);
      quantities = {};
      data.batches.forEach(function (b) {
        var label = fill(words.batch_option, { product: b.product, prefix: b.prefix,
                                               quantity: b.quantity.toLocaleString() });
        var option = new Option(label + (b.expired ? " · " + words.batch_expired : ""), String(b.id));
        option.title = b.sku;
        el.batch.add(option);
        quantities[b.id] = b.quantity;
      });
      el.batch.value = quantities[chosen] ? chosen : (data.batches.length ? String(data.batches[0].id) : "");
      el.none.hidden = data.batches.length > 0;
      showRange();
    }).catch(function (error) { phone.showError(error.message, error.signedOut); });
  }

  function showRange() {
    var quantity = quantities[el.batch.value];
    el.serial.placeholder = quantity ? fill(words.serial_range, { quantity: quantity.toLocaleString() }) : "";
    if (quantity) el.serial.max = String(quantity); else el.serial.removeAttribute("max");
  }

  function setOpen(open) {
    el.form.hidden = !open;
    el.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) loadBatches().then(function () { (el.batch.value ? el.serial : el.code).focus(); });
  }

  function scan() {
    var customer = phone.customer();
    if (!customer || busy || !idle) return;
    var pasted = el.code.value.trim();
    var body = pasted ? { openid: customer.openid, code: pasted }
                      : { openid: customer.openid, batch_id: el.batch.value, serial: el.serial.value.trim() };
    busy = true;
    setDisabled();
    phone.api("POST", urls.scan_product, body).then(function (result) {
      var chosen = phone.customer();
      if (chosen && chosen.openid === customer.openid) {
        phone.addMessages(result.messages);
        phone.rememberCustomer(result.customer);
      } else {
        phone.rememberCustomer(result.customer, false);  // another customer was chosen meanwhile
      }
      el.code.value = "";
      el.serial.value = "";
      setOpen(false);
      window.open(result.open, "_blank");  // WeChat's browser; blocked, the chat's link opens it
    }).catch(function (error) {
      phone.showError(error.message, error.signedOut);
    }).then(function () {
      busy = false;
      setDisabled();
    });
  }

  el.toggle.addEventListener("click", function () { setOpen(el.form.hidden); });
  el.batch.addEventListener("change", showRange);
  el.form.addEventListener("submit", function (event) {
    event.preventDefault();
    scan();
  });

  phone.onCustomer(function (customer, isIdle) {
    idle = isIdle;
    var who = customer ? customer.openid : null;
    if (who !== shownFor) {  // another customer: the form starts closed and empty
      shownFor = who;
      el.code.value = "";
      el.serial.value = "";
      setOpen(false);
    }
    setDisabled();
  });
})();
