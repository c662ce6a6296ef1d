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
  // What to do about each quality gate the server's engines refuse a selfie at (CONTRACT §17).
  const GATE_ADVICE = {
    face_not_found: "We could not find a face in the photo. Make sure your whole face is in view.",
    multiple_faces: "There is more than one face in the photo. Make sure only you are in view.",
    face_too_small: "Your face is too far from the camera. Come closer.",
    face_cut_off: "Part of your face is outside the photo. Put your whole face in the frame.",
    too_dark: "The photo is too dark. Move to a place with more light.",
    too_bright: "The photo is too bright. Avoid strong light or glare on your face.",
    blurry: "The photo is blurry. Hold still and take it again.",
    face_not_frontal: "Your face is turned away. Look straight at the camera.",
  };
  // How the server says the last refused photo ended the verification.
  const ENDED = "the verification has finished";

  // Shows a step and moves focus into it, in view: to the error message when there is one
  // (it is read first and the step's controls follow it), else to the step's heading or
  // first control.
  function show(step) {
    steps.forEach((s) => { $("step-" + s).hidden = s !== step; });
    const error = $("status").classList.contains("error");
    const target = error ? $("status") : $("step-" + step).querySelector("[tabindex], button, input");
    if (target && target.focus) {
      target.focus();
      target.scrollIntoView({ block: "nearest" });
    }
  }
  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").className = "status" + (isError ? " error" : "");
    if (isError) { $("status").scrollIntoView({ block: "nearest" }); }
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
    status("Sending your photo…");
    show("sending");
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
      if (body.redirectUrl) {
        status("Done. Taking you back…");
        window.location.assign(body.redirectUrl);
      } else {
        status("Your photo was accepted.");
        show("done");
      }
      return;
    }
    const reason = body.error && body.error.description ? body.error.description : "HTTP " + res.status;
    const field = body.error && body.error.fields && body.error.fields[0];
    const advice = field && GATE_ADVICE[field.reason];
    if (res.status === 400 && reason.indexOf(ENDED) >= 0) {
      closed((advice || "This photo cannot be used.") + " We could not use any of your photos, so this verification has ended. Please contact the company that sent you here.");
    } else if (res.status === 400 && advice) {
      status(advice + " Please take another photo.", true);
      show("start");
    } else if (res.status === 400) {
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
    status("");
    $("closed-text").textContent = text;
    show("closed");
  }

  $("start-camera").addEventListener("click", startCamera);
  $("cancel-camera").addEventListener("click", () => { stopCamera(); show("start"); $("upload").click(); });
  $("take").addEventListener("click", () => take().catch((e) => status(e.message, true)));
  $("retake").addEventListener("click", () => { photo = null; status(""); show("start"); });
  $("submit").addEventListener("click", submit);
  $("upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    // Emptied, so that choosing the same file again (after "Take another") is a change too.
    e.target.value = "";
    upload(file);
  });
  $("retry").addEventListener("click", () => { if (lastAction) { lastAction(); } });

  if (process.state === "open") {
    show("start");
  } else {
    closed(process.message);
  }
})();
