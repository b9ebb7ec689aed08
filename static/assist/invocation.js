// The invocation page: live progress and output of every instance, and the controls over the panes.
// The page arrives with everything stored so far (each pane holding only the tail of its output); each
// result carries the number of the last output chunk it shows (data-seq). The websocket resumes from
// those numbers, so nothing is shown twice or skipped, across reconnects too. Output is only ever
// inserted as text nodes: what a script prints is never interpreted as HTML.
(function () {
  "use strict";
  const root = document.getElementById("results");
  if (!root) return;
  const invocationId = root.dataset.invocation;
  const tailChars = Number(root.dataset.tail || 262144);
  const FINAL = new Set(["Success", "Failed", "Error", "Timeout", "Aborted", "Invalid", "Cancelled", "Terminated"]);
  const LIVE = new Set(["Pending", "Running", "Stopping", "Scheduled"]);
  const RERUNNABLE = new Set(["Failed", "Timeout", "Error", "Aborted"]);
  const encoder = new TextEncoder();
  const $ = (id) => document.getElementById(id);

  const panels = new Map();  // result id -> {el, pre, text, limit}
  function register(el) {
    const pre = el.querySelector("[data-role=output]");
    const panel = { el, pre, text: pre.textContent, limit: tailChars, bytes: Number(el.dataset.size || 0) };
    panels.set(el.dataset.result, panel);
    return panel;
  }
  root.querySelectorAll("[data-result]").forEach(register);
  // A periodic task's next execution is a new result id (the instance's row is replaced): its messages
  // wait here while the server renders its row, then are replayed (output the row already shows is skipped).
  const arriving = new Map();  // result id -> messages received while its row is fetched
  let pending = [];   // output appends batched per animation frame, so floods never freeze the page
  let retry = 500;
  let query = "";
  let marks = [];
  let current = -1;
  let summaryQueued = false;

  // ---- output panes ------------------------------------------------------------------------------
  function render(panel) {
    const pre = panel.pre;
    if (!query) {
      pre.textContent = panel.text;
      return;
    }
    const fragment = document.createDocumentFragment();
    const haystack = panel.text.toLowerCase();
    let from = 0;
    for (;;) {
      const at = haystack.indexOf(query, from);
      if (at < 0) break;
      if (at > from) fragment.append(document.createTextNode(panel.text.slice(from, at)));
      const mark = document.createElement("mark");
      mark.textContent = panel.text.slice(at, at + query.length);
      fragment.append(mark);
      from = at + query.length;
    }
    fragment.append(document.createTextNode(panel.text.slice(from)));
    pre.replaceChildren(fragment);
  }

  function trim(panel) {
    // Only the tail stays in the page; what is cut can be fetched again with "Load earlier output".
    if (panel.text.length <= panel.limit * 1.25) return false;
    const cut = panel.text.length - panel.limit;
    const start = Number(panel.el.dataset.start || 0) + encoder.encode(panel.text.slice(0, cut)).length;
    panel.el.dataset.start = String(start);
    panel.text = panel.text.slice(cut);
    panel.el.querySelector("[data-role=earlier]").hidden = false;
    return true;
  }

  // Only panes on screen are scrolled: reading the height of an off-screen pane would force the browser
  // to lay it out (they skip layout, see console.css), which with hundreds of panes freezes the page.
  const onScreen = new Set();
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const panel = panels.get(entry.target.dataset.result);
      if (entry.isIntersecting) { onScreen.add(panel); follow(panel); } else onScreen.delete(panel);
    }
  });
  panels.forEach((panel) => watcher.observe(panel.el));

  function follow(panel) {
    const pane = panel.pre.parentElement;
    if ($("follow-tail").checked && pane.open && onScreen.has(panel)) panel.pre.scrollTop = panel.pre.scrollHeight;
  }

  function flush() {
    const batch = pending;
    pending = [];
    const touched = new Map();
    for (const m of batch) {
      const panel = panels.get(m.result_id);
      if (!panel || m.seq <= Number(panel.el.dataset.seq || 0)) continue;  // already shown
      panel.el.dataset.seq = String(m.seq);
      touched.set(panel, (touched.get(panel) || "") + m.text);
    }
    let rehighlight = false;
    touched.forEach((text, panel) => {
      panel.text += text;
      panel.bytes += encoder.encode(text).length;
      panel.el.querySelector("[data-role=size]").textContent = formatSize(panel.bytes);
      if (trim(panel) || query) {
        render(panel);
        rehighlight = rehighlight || Boolean(query);
      } else {
        panel.pre.append(document.createTextNode(text));
      }
    });
    touched.forEach((_, panel) => follow(panel));  // all writes first, then one layout for the scrolls
    if (rehighlight) collectMarks(false);
  }

  async function loadEarlier(panel, button) {
    const start = Number(panel.el.dataset.start || 0);
    if (start <= 0) return;
    button.disabled = true;
    try {
      const response = await fetch(panel.el.dataset.outputUrl + "?end=" + start, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const text = await response.text();
      const newStart = Number(response.headers.get("X-Output-Start") || 0);
      panel.text = text + panel.text;
      panel.limit += text.length;
      panel.el.dataset.start = String(newStart);
      render(panel);
      button.hidden = newStart <= 0;
      if (query) collectMarks(false);
    } catch (error) {
      button.textContent = "Could not load earlier output (" + error.message + "): try again";
    } finally {
      button.disabled = false;
    }
  }

  // ---- statuses, durations, progress -------------------------------------------------------------
  function setStatus(node, status) {
    node.textContent = status;
    node.className = "status s-" + status;
  }

  function formatSize(n) {
    if (n < 1024) return n + (n === 1 ? " byte" : " bytes");
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function formatDuration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + (s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function updateDurations() {
    const now = Date.now();
    panels.forEach((panel) => {
      const started = panel.el.dataset.started;
      if (!started) return;
      const finished = panel.el.dataset.finished;
      const end = finished ? Date.parse(finished) : (LIVE.has(panel.el.dataset.status) ? now : null);
      if (end === null) return;
      panel.el.querySelector("[data-role=duration]").textContent = formatDuration(end - Date.parse(started));
    });
  }

  function updateSummary() {
    const counts = new Map();
    let live = 0;
    let rerunnable = 0;
    panels.forEach((panel) => {
      const status = panel.el.dataset.status;
      counts.set(status, (counts.get(status) || 0) + 1);
      if (LIVE.has(status)) live += 1;
      if (RERUNNABLE.has(status)) rerunnable += 1;
      const box = panel.el.querySelector("[data-role=select]");  // absent where stopping is not allowed
      if (box) {
        box.disabled = !LIVE.has(status);
        if (box.disabled) box.checked = false;
      }
    });
    const list = $("status-counts");
    const items = [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([status, n]) => {
      const li = document.createElement("li");
      li.className = "status s-" + status;
      li.dataset.status = status;
      li.append(document.createTextNode(status + " "));
      const count = document.createElement("span");
      count.textContent = String(n);
      li.append(count);
      return li;
    });
    list.replaceChildren(...items);
    // Each control is on the page only when the user's policies allow it.
    const stopSelected = $("stop-selected");
    if (stopSelected) stopSelected.hidden = live === 0;
    const stopAll = $("stop-button");
    if (stopAll) stopAll.hidden = live === 0;
    const rerunLink = $("rerun-link");
    if (rerunLink) rerunLink.hidden = rerunnable === 0 || live > 0;
  }

  function adopt(resultId) {
    arriving.set(resultId, []);
    fetch(root.dataset.panelUrl.replace("RESULT", encodeURIComponent(resultId)), { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(new Error(String(response.status)))))
      .then((html) => {
        const holder = document.createElement("template");
        holder.innerHTML = html.trim();  // rendered by the server, output escaped as text there
        const el = holder.content.querySelector("[data-result]");
        const previous = [...root.querySelectorAll("[data-result]")].find((row) => row.dataset.instance === el.dataset.instance);
        if (previous) {
          el.querySelector("details").open = previous.querySelector("details").open;
          const old = panels.get(previous.dataset.result);
          panels.delete(previous.dataset.result);
          onScreen.delete(old);
          watcher.unobserve(previous);
          previous.replaceWith(el);
        } else {
          root.append(el);
        }
        const panel = register(el);
        watcher.observe(el);
        if (query) { render(panel); collectMarks(false); }
        const waiting = arriving.get(resultId) || [];
        arriving.delete(resultId);
        waiting.forEach(onMessage);
        updateSummary();
        updateDurations();
      })
      .catch(() => arriving.delete(resultId));  // the next message for it tries again
  }

  function onMessage(m) {
    if ((m.type === "output" || m.type === "result") && !panels.has(m.result_id)) {
      if (!arriving.has(m.result_id)) adopt(m.result_id);
      arriving.get(m.result_id).push(m);
      return;
    }
    if (m.type === "output") {
      if (pending.length === 0) requestAnimationFrame(flush);
      pending.push(m);
    } else if (m.type === "result") {
      const panel = panels.get(m.result_id);
      if (!panel) return;
      panel.el.dataset.status = m.status;
      panel.el.dataset.started = m.started_at || "";
      panel.el.dataset.finished = m.finished_at || "";
      setStatus(panel.el.querySelector("[data-role=status]"), m.status);
      let detail = m.exit_code === null || m.exit_code === undefined ? "" : "exit " + m.exit_code;
      if (m.error_code) detail += " · " + m.error_code + ": " + m.error_info;
      panel.el.querySelector("[data-role=detail]").textContent = detail;
      if (!summaryQueued) {  // many results change at once: recount once per frame
        summaryQueued = true;
        requestAnimationFrame(() => { summaryQueued = false; updateSummary(); updateDurations(); });
      }
    } else if (m.type === "overall") {
      setStatus($("overall"), m.status);
      $("done").textContent = m.done;
      $("total").textContent = m.total;
      const bar = $("progress");
      bar.max = m.total; bar.value = m.done;
    }
  }

  const ACK_EVERY = 4;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/invocations/" + invocationId + "/");
    ws.onopen = () => {
      retry = 500;
      flush();
      const cursors = {};
      panels.forEach((panel, id) => { cursors[id] = Number(panel.el.dataset.seq || 0); });
      ws.send(JSON.stringify({ type: "resume", cursors, acks: true }));
    };
    // The server closes a stream whose page falls too far behind (4008; this page then resumes from its
    // cursors); acknowledging what was read keeps a page that keeps up connected.
    let received = 0;
    ws.onmessage = (event) => {
      onMessage(JSON.parse(event.data));
      received += 1;
      if (received % ACK_EVERY === 0) ws.send(JSON.stringify({ type: "ack", received }));
    };
    ws.onclose = (event) => {
      if (event.code === 4401 || event.code === 4404) return;
      setTimeout(connect, retry + Math.random() * retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  // ---- search ------------------------------------------------------------------------------------
  function collectMarks(jump) {
    marks = [...root.querySelectorAll("mark")];
    if (jump) current = marks.length ? 0 : -1;
    else current = Math.min(current, marks.length - 1);
    showCurrent(jump);
  }

  function showCurrent(scroll) {
    marks.forEach((mark, n) => mark.classList.toggle("current", n === current));
    $("search-count").textContent = !query ? "" : marks.length === 0 ? "No matches"
      : (current + 1) + " of " + marks.length;
    if (scroll && current >= 0) {
      const mark = marks[current];
      mark.closest("details").open = true;
      mark.scrollIntoView({ block: "center" });
    }
  }

  function search() {
    query = $("output-search").value.toLowerCase();
    panels.forEach(render);
    panels.forEach((panel) => { if (query && panel.text.toLowerCase().includes(query)) panel.el.querySelector("details").open = true; });
    collectMarks(true);
  }

  function step(delta) {
    if (!marks.length) return;
    current = (current + delta + marks.length) % marks.length;
    showCurrent(true);
  }

  // ---- stop with confirmation --------------------------------------------------------------------
  function confirmStop(instances) {
    const dialog = $("stop-dialog");
    const list = $("stop-dialog-list");
    const form = dialog.querySelector("form");
    form.querySelectorAll("input[name=instance_ids]").forEach((input) => input.remove());
    list.replaceChildren(...instances.map((panel) => {
      const li = document.createElement("li");
      li.textContent = panel.el.dataset.name + " (" + panel.el.dataset.instance + ") — " + panel.el.dataset.status;
      const input = document.createElement("input");
      input.type = "hidden"; input.name = "instance_ids"; input.value = panel.el.dataset.instance;
      form.append(input);
      return li;
    }));
    dialog.showModal();
    $("stop-confirm").focus();
  }

  function livePanels(selectedOnly) {
    return [...panels.values()].filter((panel) => LIVE.has(panel.el.dataset.status)
      && (!selectedOnly || Boolean(panel.el.querySelector("[data-role=select]")?.checked)));
  }

  // ---- wiring ------------------------------------------------------------------------------------
  $("expand-all").addEventListener("click", () => {
    root.querySelectorAll("details.output-pane").forEach((d) => { d.open = true; });
    panels.forEach(follow);
  });
  $("collapse-all").addEventListener("click", () => root.querySelectorAll("details.output-pane").forEach((d) => { d.open = false; }));
  $("wrap-lines").addEventListener("change", (event) => root.classList.toggle("wrap", event.target.checked));
  $("follow-tail").addEventListener("change", () => panels.forEach(follow));
  let searchTimer = null;
  $("output-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 150); });
  $("output-search").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    if ($("output-search").value.toLowerCase() !== query) search(); else step(event.shiftKey ? -1 : 1);
  });
  $("search-next").addEventListener("click", () => step(1));
  $("search-prev").addEventListener("click", () => step(-1));
  root.addEventListener("toggle", (event) => {
    const panel = panels.get(event.target.closest("[data-result]").dataset.result);
    if (event.target.open) follow(panel);
  }, true);
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-role=earlier]");
    if (button) loadEarlier(panels.get(button.closest("[data-result]").dataset.result), button);
  });
  root.addEventListener("change", (event) => {
    if (!event.target.matches("[data-role=select]") || !$("stop-selected")) return;
    $("stop-selected").textContent = "Stop selected (" + livePanels(true).length + ")…";
  });
  const stopAllForm = $("stop-form");
  if (stopAllForm) {
    stopAllForm.addEventListener("submit", (event) => { event.preventDefault(); confirmStop(livePanels(false)); });
  }
  const stopSelectedForm = $("stop-selected-form");
  if (stopSelectedForm) {
    stopSelectedForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = livePanels(true);
      if (chosen.length === 0) {
        $("stop-selected").textContent = "Select instances to stop first";
        return;
      }
      confirmStop(chosen);
    });
  }
  $("stop-cancel").addEventListener("click", () => $("stop-dialog").close());

  updateSummary();
  updateDurations();
  setInterval(updateDurations, 1000);
  // The page's message entry point, also used by the browser test that simulates 200 instances at once.
  window.assistInvocation = { receive: onMessage };
  connect();
})();
