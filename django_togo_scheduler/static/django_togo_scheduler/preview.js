/* Refreshes the schedule form's preview of the next fire times as the spec or
   the time zone is typed, from the admin's JSON view (data-url). No framework. */
"use strict";
(function () {
  const DELAY = 250; // ms of quiet typing before asking the server

  function render(box, data) {
    box.replaceChildren();
    if (data.hint) {
      const hint = document.createElement("p");
      hint.className = "togo-preview-hint";
      hint.textContent = data.hint;
      box.append(hint);
      return;
    }
    if (!data.ok) {
      const error = document.createElement("p");
      error.className = "togo-preview-error";
      error.textContent = data.error;
      box.append(error);
      return;
    }
    const words = document.createElement("p");
    words.className = "togo-description";
    words.textContent = data.description;
    const list = document.createElement("ol");
    list.className = "togo-times";
    for (const time of data.times) {
      const item = document.createElement("li");
      const when = document.createElement("time");
      when.dateTime = time.at;
      when.textContent = time.local;
      const rel = document.createElement("span");
      rel.className = "togo-quiet";
      rel.textContent = time.relative;
      item.append(when, " ", rel);
      list.append(item);
    }
    box.append(words, list);
  }

  let timer = null;
  let latest = 0;

  async function refresh() {
    const box = document.getElementById("togo-preview");
    const spec = document.getElementById("id_spec");
    const zone = document.getElementById("id_timezone");
    if (!box || !spec) {
      return;
    }
    const ask = ++latest;
    if (!spec.value.trim()) {
      // Nothing typed (yet, or any more): the quiet hint, not an error.
      render(box, { hint: box.dataset.hint });
      box.classList.remove("togo-loading");
      return;
    }
    const params = new URLSearchParams({ spec: spec.value, timezone: zone ? zone.value : "" });
    box.classList.add("togo-loading");
    try {
      const response = await fetch(box.dataset.url + "?" + params, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (ask === latest) {
        render(box, data);
      }
    } catch (error) {
      if (ask === latest) {
        render(box, { ok: false, error: String(error) });
      }
    } finally {
      if (ask === latest) {
        box.classList.remove("togo-loading");
      }
    }
  }

  // Listening on the document from the start (this script runs in <head>), so
  // typing that begins before the page has finished loading is not missed.
  function later(event) {
    const id = event.target && event.target.id;
    if (id === "id_spec" || id === "id_timezone") {
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY);
    }
  }
  document.addEventListener("input", later);
  document.addEventListener("change", later);
})();
