// Replays an asciicast v2 recording into xterm.js at 1x, 2x or 4x ("Show all" writes it at once).
(function () {
  "use strict";
  const root = document.getElementById("replay");
  if (!root || typeof Terminal === "undefined") return;
  const statusEl = document.getElementById("replay-status");
  const player = { term: null, events: [], header: null, done: false, timer: null, run: 0 };

  function reset() {
    if (player.term) player.term.dispose();
    player.term = new Terminal({ cols: player.header.width, rows: player.header.height, scrollback: 10000, disableStdin: true });
    player.term.open(root);
    player.done = false;
  }

  function apply(event) {
    const [, kind, data] = event;
    if (kind === "o") player.term.write(data);
    else if (kind === "r") {
      const [cols, rows] = data.split("x").map(Number);
      if (cols > 0 && rows > 0) player.term.resize(cols, rows);
    } else if (kind === "m") statusEl.textContent = data;
  }

  function finish() {
    player.term.write("", () => {
      player.done = true;
      statusEl.textContent = "finished";
    });
  }

  function play(speed) {
    clearTimeout(player.timer);
    const run = ++player.run;
    reset();
    if (speed === 0) {
      player.events.forEach(apply);
      finish();
      return;
    }
    statusEl.textContent = `playing at ${speed}×`;
    const started = performance.now();
    let next = 0;
    function step() {
      if (run !== player.run) return;
      const now = (performance.now() - started) / 1000 * speed;
      while (next < player.events.length && player.events[next][0] <= now) apply(player.events[next++]);
      if (next >= player.events.length) return finish();
      const wait = (player.events[next][0] - now) / speed * 1000;
      player.timer = setTimeout(step, Math.max(0, Math.min(wait, 1000)));
    }
    step();
  }

  fetch(root.dataset.src, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.text();
    })
    .then((text) => {
      const lines = text.split("\n").filter((line) => line.trim());
      player.header = JSON.parse(lines[0]);
      player.events = lines.slice(1).map((line) => JSON.parse(line));
      reset();
      statusEl.textContent = `${player.events.length} events, ${player.events.length ? player.events[player.events.length - 1][0].toFixed(1) : 0} s`;
      document.querySelectorAll("[data-speed]").forEach((button) =>
        button.addEventListener("click", () => play(Number(button.dataset.speed))));
    })
    .catch((error) => { statusEl.textContent = `cannot load the recording: ${error.message}`; });

  window.assistReplay = player;
})();
