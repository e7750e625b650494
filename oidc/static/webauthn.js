// WebAuthn for the sign-in pages: a button carries the URLs; options come from the server as JSON,
// the browser's credential goes back as JSON, and the server says where to go next.
(function () {
  "use strict";
  function csrf() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || refused); }
        return data;
      });
    });
  }
  // the page's language: the template puts each message, translated, in a data-message-* attribute
  var refused = "The server refused this key.";
  function run(button, ceremony) {
    refused = button.dataset.messageRefused || refused;
    var error = document.getElementById("webauthn-error");
    error.hidden = true;
    button.disabled = true;
    post(button.dataset.optionsUrl).then(function (options) {
      if (ceremony === "get") {
        return navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
      }
      return navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)});
    }).then(function (credential) {
      return post(button.dataset.verifyUrl, credential.toJSON());
    }).then(function (result) {
      window.location.assign(result.redirect);
    }).catch(function (problem) {
      error.textContent = problem && problem.name === "NotAllowedError"
        ? button.dataset.messageCancelled || "The key did not answer, or you cancelled. Try again."
        : (problem.message || String(problem));
      error.hidden = false;
      button.disabled = false;
    });
  }
  var signIn = document.getElementById("webauthn-signin");
  if (signIn) { signIn.addEventListener("click", function () { run(signIn, "get"); }); }
  var register = document.getElementById("webauthn-register");
  if (register) { register.addEventListener("click", function () { run(register, "create"); }); }
})();
