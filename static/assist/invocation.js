// Live output of one invocation. The page arrives with everything stored so far; each result panel
// carries the number of the last output chunk it shows (data-seq). The websocket resumes from those
// numbers, so nothing is shown twice or skipped, across reconnects too.
(function () {
  "use strict";
  const root = document.getElementById("results");
  if (!root) return;
  const invocationId = root.dataset.invocation;
  const panels = new Map();
  root.querySelectorAll("[data-result]").forEach((el) => panels.set(el.dataset.result, el));
  let pending = [];   // output appends batched per animation frame, so floods never freeze the page
  let retry = 500;

  function cursors() {
    const out = {};
    panels.forEach((el, id) => { out[id] = Number(el.dataset.seq || 0); });
    return out;
  }

  function flush() {
    const batch = pending;
    pending = [];
    const byPanel = new Map();
    for (const m of batch) {
      const el = panels.get(m.result_id);
      if (!el || m.seq <= Number(el.dataset.seq || 0)) continue;  // already shown
      el.dataset.seq = String(m.seq);
      byPanel.set(el, (byPanel.get(el) || "") + m.text);
    }
    byPanel.forEach((text, el) => {
      const pre = el.querySelector("[data-role=output]");
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(document.createTextNode(text));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
  }

  function setStatus(node, status) {
    node.textContent = status;
    node.className = "status s-" + status;
  }

  function onMessage(m) {
    if (m.type === "output") {
      if (pending.length === 0) requestAnimationFrame(flush);
      pending.push(m);
    } else if (m.type === "result") {
      const el = panels.get(m.result_id);
      if (!el) return;
      setStatus(el.querySelector("[data-role=status]"), m.status);
      let detail = m.exit_code === null || m.exit_code === undefined ? "" : "exit " + m.exit_code;
      if (m.error_code) detail += " · " + m.error_code + ": " + m.error_info;
      el.querySelector("[data-role=detail]").textContent = detail;
    } else if (m.type === "overall") {
      setStatus(document.getElementById("overall"), m.status);
      document.getElementById("done").textContent = m.done;
      document.getElementById("total").textContent = m.total;
      const bar = document.getElementById("progress");
      bar.max = m.total; bar.value = m.done;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/invocations/" + invocationId + "/");
    ws.onopen = () => { retry = 500; flush(); ws.send(JSON.stringify({ type: "resume", cursors: cursors() })); };
    ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (event.code === 4401 || event.code === 4404) return;
      setTimeout(connect, retry + Math.random() * retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
