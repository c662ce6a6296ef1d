// The journey: capture a selfie (camera or upload), fit it to the API's limits, submit it,
// then redirect to the integrator's callbackUri (or show a done screen).
(function () {
  "use strict";
  const MAX_BYTES = 780 * 1024;       // under the 800 KiB limit, with margin
  const MIN_LONG = 640, MIN_SHORT = 480, MAX_LONG = 1600;
  const process = JSON.parse(document.getElementById("process").textContent);
  const $ = (id) => document.getElementById(id);
  const steps = ["start", "camera", "review", "sending", "done", "closed"];
  let stream = null, photo = null, lastAction = null;

  function show(step) {
    steps.forEach((s) => { $("step-" + s).hidden = s !== step; });
    const first = $("step-" + step).querySelector("button, input, h2");
    if (first && first.focus) { first.focus({ preventScroll: true }); }
  }
  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").className = "status" + (isError ? " error" : "");
  }
  function offerRetry(action) {
    lastAction = action;
    $("retry").hidden = !action;
  }

  function stopCamera() {
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  }

  async function startCamera() {
    status("");
    offerRetry(null);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status("This browser cannot use the camera. Upload a photo instead.", true);
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false });
      $("video").srcObject = stream;
      show("camera");
    } catch (e) {
      const why = e && e.name === "NotAllowedError" ? "Camera access was not allowed"
        : e && e.name === "NotFoundError" ? "No camera was found"
        : "The camera could not be started";
      status("We could not use your camera: " + why + ". You can upload a photo instead.", true);
      show("start");
    }
  }

  // Draws a source (video or image) on a canvas that fits the API's size rules.
  function toCanvas(source, width, height) {
    let scale = 1;
    const long = Math.max(width, height), short = Math.min(width, height);
    if (long > MAX_LONG) { scale = MAX_LONG / long; }
    if (long * scale < MIN_LONG || short * scale < MIN_SHORT) {
      scale = Math.max(MIN_LONG / long, MIN_SHORT / short);
    }
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  // Re-encodes as JPEG, lowering the quality until it fits in MAX_BYTES.
  async function encode(canvas) {
    for (let q = 0.92; q >= 0.3; q -= 0.1) {
      const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", q));
      if (blob && blob.size <= MAX_BYTES) { return blob; }
    }
    throw new Error("The photo is too large even after compressing it.");
  }

  async function usePhoto(canvas) {
    photo = await encode(canvas);
    $("preview").src = URL.createObjectURL(photo);
    show("review");
  }

  async function take() {
    const v = $("video");
    const canvas = toCanvas(v, v.videoWidth || 640, v.videoHeight || 480);
    stopCamera();
    await usePhoto(canvas);
  }

  async function upload(file) {
    status("");
    if (!file) { return; }
    try {
      const img = new Image();
      img.src = URL.createObjectURL(file);
      await img.decode();
      await usePhoto(toCanvas(img, img.naturalWidth, img.naturalHeight));
    } catch (e) {
      status("We could not read that file. Choose a JPEG, PNG or WebP photo.", true);
      show("start");
    }
  }

  function base64(blob) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).split(",")[1]);
      r.onerror = reject;
      r.readAsDataURL(blob);
    });
  }

  async function submit() {
    show("sending");
    status("Sending your photo…");
    offerRetry(null);
    let res;
    try {
      res = await fetch(process.captureUrl, {
        method: "POST",
        // The token travels in a header so the server checks it before reading the photo.
        headers: { "content-type": "application/json", "selo-journey-token": process.token },
        body: JSON.stringify({ imageBase64: await base64(photo) }),
      });
    } catch (e) {
      status("Network error: check your connection and try again.", true);
      offerRetry(submit);
      show("review");
      return;
    }
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      status("");
      if (body.redirectUrl) {
        status("Done. Taking you back…");
        window.location.assign(body.redirectUrl);
      } else {
        show("done");
      }
      return;
    }
    const reason = body.error && body.error.description ? body.error.description : "HTTP " + res.status;
    if (res.status === 400) {
      status("This photo cannot be used: " + reason + ". Please take another.", true);
      show("start");
    } else if (res.status === 409 && reason.indexOf("being completed") >= 0) {
      // Another submission of this journey (an earlier try that stalled) is still running.
      status("An earlier try is still being sent; wait a moment, then send again.", true);
      offerRetry(submit);
      show("review");
    } else if (res.status === 409 || res.status === 410 || res.status === 404) {
      closed(reason);
    } else {
      status("Something went wrong (" + reason + ").", true);
      offerRetry(submit);
      show("review");
    }
  }

  function closed(text) {
    $("closed-text").textContent = text;
    show("closed");
  }

  $("start-camera").addEventListener("click", startCamera);
  $("cancel-camera").addEventListener("click", () => { stopCamera(); show("start"); $("upload").click(); });
  $("take").addEventListener("click", () => take().catch((e) => status(e.message, true)));
  $("retake").addEventListener("click", () => { photo = null; show("start"); });
  $("submit").addEventListener("click", submit);
  $("upload").addEventListener("change", (e) => upload(e.target.files[0]));
  $("retry").addEventListener("click", () => { if (lastAction) { lastAction(); } });

  if (process.state === "open") {
    show("start");
  } else {
    closed(process.message);
  }
})();
