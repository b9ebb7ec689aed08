(() => {
  const form = document.getElementById("send-form");
  const drop = document.getElementById("drop");
  const input = document.getElementById("file");
  const chosen = document.getElementById("chosen");
  const bar = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const button = document.getElementById("send-button");
  const formError = document.getElementById("form-error");
  const maxBytes = Number(form.dataset.maxBytes);

  function showErrors(errors) {
    document.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    formError.hidden = true;
    for (const [field, message] of Object.entries(errors)) {
      const target = document.querySelector(`.field-error[data-for="${field}"]`) || formError;
      target.textContent = message;
      target.hidden = false;
    }
  }
  function describe() {
    const file = input.files[0];
    chosen.textContent = file ? `${file.name} (${file.size} bytes)` : "";
    if (file && file.size > maxBytes) showErrors({file: `The file is larger than the limit of ${maxBytes} bytes.`});
  }
  input.addEventListener("change", describe);
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault(); drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; describe(); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) { showErrors({file: "Choose a file to send."}); return; }
    if (file.size > maxBytes) { showErrors({file: `The file is larger than the limit of ${maxBytes} bytes.`}); return; }
    showErrors({});
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    bar.hidden = false; bar.value = 0; button.disabled = true;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) { bar.value = (100 * e.loaded) / e.total; percent.textContent = `${Math.floor(bar.value)} %`; }
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {errors: {form: `The server answered ${xhr.status}.`}}; }
      if (xhr.status === 200 && body.redirect) { window.location.href = body.redirect; return; }
      showErrors(body.errors || {form: `The server answered ${xhr.status}.`});
    });
    xhr.addEventListener("error", () => { button.disabled = false; showErrors({form: "The upload failed (network error)."}); });
    xhr.send(new FormData(form));
  });
})();
