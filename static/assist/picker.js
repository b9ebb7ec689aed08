// The instance picker (templates/web/_instance_picker.html): find instances by name, id, IP or tag, select
// every match or every instance carrying a tag, count the selection, and ask before running on offline
// instances. The server stays the judge of which instances may be targeted.
(() => {
  const picker = document.getElementById("picker");
  if (!picker) return;
  const form = picker.closest("form");
  const rows = Array.from(picker.querySelectorAll("label.target"));
  const boxOf = (row) => row.querySelector("input[type=checkbox]");
  const search = document.getElementById("picker-search");
  const tagInput = document.getElementById("picker-tag");
  const tagResult = document.getElementById("picker-tag-result");
  const count = document.getElementById("picker-count");
  const noMatch = document.getElementById("picker-no-match");
  const dialog = document.getElementById("offline-dialog");
  let confirmedOffline = false;

  picker.querySelector(".picker-tools").hidden = false;

  function matching() {
    const terms = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return rows.filter((row) => terms.every((term) => row.dataset.search.includes(term)));
  }

  function filter() {
    const shown = new Set(matching());
    rows.forEach((row) => { row.hidden = !shown.has(row); });
    noMatch.hidden = rows.length === 0 || shown.size > 0;
  }

  function selected() {
    return rows.filter((row) => boxOf(row).checked);
  }

  function updateCount() {
    const chosen = selected();
    const offline = chosen.filter((row) => row.dataset.online !== "1").length;
    count.textContent = `${chosen.length} selected` + (offline ? ` (${offline} offline)` : "");
    count.classList.toggle("warn", offline > 0);
  }

  function carries(row, wanted) {
    const [key, ...rest] = wanted.split("=");
    const value = rest.join("=");
    const hasValue = wanted.includes("=");
    return row.dataset.tags.split("\n").filter(Boolean).some((pair) => {
      const at = pair.indexOf("=");
      const [k, v] = [pair.slice(0, at), pair.slice(at + 1)];
      return k === key.trim() && (!hasValue || v === value.trim());
    });
  }

  function selectTagged() {
    const wanted = tagInput.value.trim();
    if (!wanted || wanted.startsWith("=")) {
      tagResult.textContent = "Type a tag as key=value, or key.";
      return;
    }
    const tagged = rows.filter((row) => carries(row, wanted));
    tagged.forEach((row) => { boxOf(row).checked = true; });
    tagResult.textContent = tagged.length
      ? `${tagged.length} instance${tagged.length === 1 ? "" : "s"} with ${wanted} selected.`
      : `No instance carries ${wanted}.`;
    updateCount();
  }

  search.addEventListener("input", filter);
  search.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
  tagInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); selectTagged(); }
  });
  document.getElementById("picker-select-tag").addEventListener("click", selectTagged);
  document.getElementById("picker-select-matching").addEventListener("click", () => {
    matching().forEach((row) => { boxOf(row).checked = true; });
    updateCount();
  });
  document.getElementById("picker-clear").addEventListener("click", () => {
    rows.forEach((row) => { boxOf(row).checked = false; });
    updateCount();
  });
  picker.addEventListener("change", updateCount);

  // Capturing on the document runs before the form's own submit handlers (the send page uploads from one).
  document.addEventListener("submit", (event) => {
    if (event.target !== form) return;
    const offline = selected().filter((row) => row.dataset.online !== "1");
    if (confirmedOffline || offline.length === 0 || !dialog) {
      confirmedOffline = false; // ask again next time (a failed upload may be sent again)
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    const list = document.getElementById("offline-dialog-list");
    list.replaceChildren(...offline.map((row) => {
      const item = document.createElement("li");
      item.textContent = `${row.dataset.name} (${boxOf(row).value})`;
      return item;
    }));
    dialog.showModal();
  }, true);
  document.getElementById("offline-run-anyway").addEventListener("click", () => {
    confirmedOffline = true;
    dialog.close();
    form.requestSubmit();
  });
  document.getElementById("offline-cancel").addEventListener("click", () => dialog.close());

  filter();
  updateCount();
})();
