// Profile → Security: add a security key or passkey (WebAuthn registration).
// The page works without JavaScript except for this one ceremony.
(function () {
  "use strict";
  var form = document.getElementById("webauthn-add");
  if (!form) { return; }
  var error = document.getElementById("webauthn-add-error");
  var button = document.getElementById("webauthn-add-button");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  // the page's language: the template puts each message, translated, in a data-message-* attribute
  function say(name, english) { return form.dataset["message" + name] || english; }

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromB64url(json.challenge);
    options.user = Object.assign({}, json.user, { id: fromB64url(json.user.id) });
    options.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var transports = typeof response.getTransports === "function" ? response.getTransports() : [];
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toB64url(response.clientDataJSON),
        attestationObject: toB64url(response.attestationObject),
        transports: transports
      }
    };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body)
    });
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    button.disabled = false;
    button.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      fail(say("Unsupported", "This browser cannot use security keys or passkeys."));
      return;
    }
    button.disabled = true;
    var nickname = document.getElementById("new-nickname").value;
    post(form.dataset.optionsUrl)
      .then(function (r) {
        if (!r.ok) { throw new Error(say("Start", "The server could not start adding a key; reload the page and try again.")); }
        return r.json();
      })
      .then(function (json) { return navigator.credentials.create({ publicKey: creationOptions(json) }); })
      .then(function (credential) {
        return post(form.dataset.verifyUrl, { credential: credentialJSON(credential), nickname: nickname });
      })
      .then(function (r) { return r.json(); })
      .then(function (result) {
        if (result.redirect) { window.location.assign(result.redirect); } else { fail(result.error); }
      })
      .catch(function (e) {
        fail(e && e.name === "NotAllowedError" ? say("Cancelled", "Adding the key was cancelled or timed out; try again.")
             : e && e.name === "InvalidStateError" ? say("Known", "This key is already registered; use another one.")
             : (e && e.message) || say("Failed", "The key could not be added; try again."));
      });
  });
})();
