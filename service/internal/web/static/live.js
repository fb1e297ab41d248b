// One WebSocket for a live page (GET /api/v1/ws; the session cookie
// authenticates it). It subscribes to the page's channels, says on the
// page whether it is live (#live, and data-live on <body>, which the
// stylesheet uses to mark what may be stale), and reconnects when the
// socket drops. Whatever was sent while it was down is lost, so after
// every subscription it calls onSync for the page to read afresh, over
// REST, what it shows: first subscribe, then read, so nothing falls
// between the two.
'use strict';

window.ExchangeLive = function (channels, handlers) {
  const indicator = document.getElementById('live');
  const MAX_WAIT = 5000;
  let ws = null, retries = 0, timer = 0, synced = false, stopped = false;

  function set(state, text) {
    document.body.dataset.live = state;
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }
  const send = (msg) => ws && ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));

  function connect() {
    clearTimeout(timer);
    if (stopped || (ws && ws.readyState <= WebSocket.OPEN)) return;
    set('connecting', retries ? 'Reconnecting…' : 'Connecting…');
    synced = false;
    const sock = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws');
    ws = sock;
    sock.onopen = () => send({ op: 'subscribe', channels });
    sock.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === 'subscribed' && !synced) {
        synced = true;
        retries = 0;
        set('live', 'Live');
        if (handlers.onSync) handlers.onSync();
      }
      if (m.type === 'error' && m.code === 'unauthorized') {
        set('off', 'Signed out: log in again for live updates');
      }
      handlers.onMessage(m);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (handlers.onClose) handlers.onClose();
      // 1008 with this reason: the session ended (logged out elsewhere,
      // password changed, frozen). Reconnecting would not bring it back.
      if (ev.code === 1008 && /access ended/.test(ev.reason)) {
        stopped = true;
        set('off', 'Signed out: log in again for live updates');
        return;
      }
      const wait = Math.min(MAX_WAIT, 500 * 2 ** retries++);
      set('off', 'Disconnected: reconnecting in ' + Math.ceil(wait / 1000) + ' s…');
      timer = setTimeout(connect, wait);
    };
  }

  // Back online, or the tab shown again: try at once rather than wait.
  window.addEventListener('online', connect);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) connect(); });
  connect();
  return {
    send,
    // resubscribe asks again for a channel's snapshot (the book, after a gap).
    resubscribe(channel) {
      send({ op: 'unsubscribe', channels: [channel] });
      send({ op: 'subscribe', channels: [channel] });
    },
  };
};
