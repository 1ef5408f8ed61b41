// The agent's websocket (/ws/agent): typed, versioned JSON frames. Reconnects
// with a capped backoff; the hub sends the current state and any ringing call's
// pop at once on every (re)connect, so nothing is missed while it was down.

export function connect({ onFrame, onStatus, url = "/ws/agent" }) {
  let ws = null;
  let delay = 500;
  let stopped = false;
  let timer = null;

  const open = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    onStatus("connecting");
    ws = new WebSocket(`${scheme}//${location.host}${url}`);
    ws.addEventListener("open", () => {
      delay = 500;
      onStatus("open");
    });
    ws.addEventListener("message", (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return; // not a frame: ignored
      }
      if (!frame || frame.v !== 1 || typeof frame.type !== "string") return;
      onFrame(frame);
    });
    ws.addEventListener("close", () => {
      onStatus("closed");
      if (stopped) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    });
  };
  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}
