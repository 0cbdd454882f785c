/* The guide's QR scanner, shared by the scanning pages (guide/redeem.html: a coupon's code,
   guide/member_scan.html: a member's QR). WeCom's own scanner (wx.scanQRCode) when the page is
   signed for the JS-SDK and opened inside WeCom, else the browser's camera drawn into a canvas
   and read by jsQR (scrm/static/jsQR.js, loaded before this). Without either the scan button
   stays hidden and the page's form is typed or pasted into.

   scrmQrScanner({
     scan, status, box, video, canvas, stop,   the page's elements: the scan button, the status
                                               line, the camera box, its <video>, a hidden
                                               <canvas>, the box's close button
     words: {opening, aim, no_camera},         the page's words; no_camera holds %(error)s
     read: function (text) → value or null,    what a QR's text means to the page
     onValue: function (value),                a value was read (the camera is already off)
     wx: {appId, timestamp, nonceStr, signature, jsApiList} or null   the signed wx.config
   }) → {decode: function (ImageData) → value or null}   (a page exposes it for its tests) */
(function () {
  var MAX_SIDE = 640;  /* a phone camera's frame, scaled down: enough for a QR, quick to read */

  window.scrmQrScanner = function (options) {
    var scan = options.scan, status = options.status, box = options.box, video = options.video;
    var canvas = options.canvas, words = options.words, read = options.read;
    var stream = null, timer = null;

    /* One frame's pixels (ImageData) → the page's value in it, or null. */
    function decode(image) {
      var found = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
      return found && found.data ? read(found.data) : null;
    }
    function stop() {
      if (timer) { clearTimeout(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      box.hidden = true;
    }
    function found(value) {
      stop();
      options.onValue(value);
    }
    function tick() {
      timer = null;
      if (!stream) return;
      if (video.readyState >= 2 && video.videoWidth) {
        var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        var ctx = canvas.getContext("2d", { willReadFrequently: true });
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        var value = decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
        if (value) { found(value); return; }
      }
      timer = setTimeout(tick, 150);
    }
    function camera() {
      status.textContent = words.opening;
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          box.hidden = false;
          status.textContent = words.aim;
          return video.play();
        })
        .then(tick)
        .catch(function (err) {
          stop();
          status.textContent = words.no_camera.replace("%(error)s", err.name);
        });
    }

    var cameraOk = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.jsQR);
    var scanner = cameraOk ? camera : null;
    if (options.wx && window.wx && /wxwork|MicroMessenger/i.test(navigator.userAgent)) {
      var signed = options.wx;
      wx.config({ beta: true, debug: false, appId: signed.appId, timestamp: signed.timestamp,
                  nonceStr: signed.nonceStr, signature: signed.signature, jsApiList: signed.jsApiList });
      wx.ready(function () {
        scanner = function () {
          /* WeCom's result goes to the page as read, even when it means nothing: the page's
             own answer to a wrong code says so */
          wx.scanQRCode({ desc: "scanQRCode", needResult: 1, scanType: ["qrCode"],
                          success: function (res) { found(read(res.resultStr || "") || ""); },
                          fail: function () { if (cameraOk) camera(); } });
        };
        scan.hidden = false;
      });
      wx.error(function () { scanner = cameraOk ? camera : null; scan.hidden = !scanner; });
    }
    if (scanner) scan.hidden = false;
    scan.addEventListener("click", function () { if (scanner) scanner(); });
    options.stop.addEventListener("click", function () {
      stop();
      status.textContent = "";
    });
    window.addEventListener("pagehide", stop);
    return { decode: decode };
  };
})();
