// A live terminal session: xterm.js <-> /ws/terminals/<id>/ (docs/terminals.md has the wire format).
// Output is acknowledged only after xterm has rendered it (write callback), so a fast producer on the
// machine is held back by the agent instead of piling up in this page.
(function () {
  "use strict";
  const root = document.getElementById("terminal");
  if (!root || typeof Terminal === "undefined") return;
  const sessionId = root.dataset.session;
  const watching = root.dataset.mode === "watch";
  const statusEl = document.getElementById("terminal-status");
  const term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    disableStdin: watching,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
    fontSize: 14,
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(root);
  fit.fit();

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = `cols=${term.cols}&rows=${term.rows}` + (watching ? "&watch=1" : "");
  const ws = new WebSocket(`${scheme}//${location.host}/ws/terminals/${sessionId}/?${query}`);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  const state = { consumed: 0, acked: 0, ackTimer: null, ended: false, received: 0, error: "" };

  function setStatus(text, cls) {
    statusEl.textContent = text;
    statusEl.className = "status" + (cls ? " s-" + cls : "");
  }

  function sendAck() {
    state.ackTimer = null;
    if (state.consumed > state.acked && ws.readyState === WebSocket.OPEN && !watching) {
      state.acked = state.consumed;
      ws.send(JSON.stringify({ type: "ack", bytes: state.consumed }));
    }
  }

  ws.onmessage = (event) => {
    if (typeof event.data !== "string") {
      const data = new Uint8Array(event.data);
      state.received += data.length;
      term.write(data, () => {
        state.consumed += data.length;
        if (state.ackTimer === null) state.ackTimer = setTimeout(sendAck, 10);
      });
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === "opened") {
      setStatus(watching ? "watching" : "connected", "Connected");
    } else if (message.type === "closed") {
      state.ended = true;
      const detail = message.detail ? `: ${message.detail}` : "";
      setStatus(`ended (${message.reason})`, "Terminated");
      term.write(`\r\n\x1b[2m[session ended: ${message.reason}${detail}]\x1b[0m\r\n`);
    } else if (message.type === "error") {
      state.error = message.message || "error";
      setStatus(state.error, "Failed");
    }
  };
  ws.onopen = () => {
    setStatus(watching ? "watching" : "opening shell…");
    if (!watching) term.focus();
  };
  ws.onclose = (event) => {
    if (!state.ended) {
      const why = state.error ? `: ${state.error}` : "";
      setStatus(event.code >= 4000 ? `refused (${event.code})${why}` : "disconnected", "Failed");
    }
    state.ended = true;
  };

  if (!watching) {
    term.onData((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    term.onBinary((data) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      ws.send(bytes);
    });
    term.onResize(({ cols, rows }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    // Ctrl+Shift+C copies the selection (Ctrl+C stays the shell's interrupt); Ctrl+Shift+V pastes natively.
    term.attachCustomKeyEventHandler((event) => {
      if (event.type === "keydown" && event.ctrlKey && event.shiftKey && event.code === "KeyC") {
        if (term.hasSelection() && navigator.clipboard) navigator.clipboard.writeText(term.getSelection());
        return false;
      }
      return true;
    });
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => fit.fit(), 50);
  });
  const full = document.getElementById("terminal-fullscreen");
  if (full) full.addEventListener("click", () => root.requestFullscreen && root.requestFullscreen());
  document.addEventListener("fullscreenchange", () => setTimeout(() => fit.fit(), 50));

  window.assistTerminal = { term, ws, state, fit };
})();
