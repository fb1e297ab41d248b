// The market page, live: the order book, trades and ticker from the public
// WebSocket channels, and for a logged-in user their orders and balances
// from the private ones (the upgrade carries the session cookie). The
// order form and the cancel buttons are sent with fetch to the same page
// handlers a plain form posts to, so the page never reloads. Amounts stay
// the exact decimal strings the server sends; only the chart and the depth
// bars turn them into numbers.
'use strict';

(function () {
  const root = document.getElementById('market');
  if (!root) return;
  const market = root.dataset.market;
  const authed = root.dataset.auth === '1';
  const $ = (id) => document.getElementById(id);
  const DEPTH = 15, TRADES = 30;
  const OPEN = new Set(['open', 'partially_filled']);
  const D = window.Dec;
  // The site's words for statuses and cancel reasons (web/vocab.go).
  const WORDS = JSON.parse(root.dataset.words || '{"status":{},"reasons":{}}');
  const statusLabel = (o) => {
    const s = WORDS.status[o.status] || o.status.replace(/_/g, ' ');
    const r = o.status === 'cancelled' && WORDS.reasons[o.cancel_reason];
    return r ? s + ' \u00b7 ' + r.short : s;
  };

  // ---- exact decimals, for ordering prices and ids ----
  function units(s) {
    const neg = s.startsWith('-');
    const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
    const v = BigInt(i || '0') * 100000000n + BigInt((f + '00000000').slice(0, 8));
    return neg ? -v : v;
  }
  const cmp = (a, b) => (a > b ? 1 : a < b ? -1 : 0);

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function emptyRow(cols, text, cls) {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    const td = cell(text, 'empty');
    td.colSpan = cols;
    tr.append(td);
    return tr;
  }

  // ---- order book: a snapshot, then deltas numbered without gaps ----
  const book = { seq: -1, bids: new Map(), asks: new Map() };

  function applyLevels(side, levels) {
    for (const [p, q] of levels) {
      if (units(q) === 0n) side.delete(p);
      else side.set(p, q);
    }
  }
  function best(side, desc) {
    return [...side.entries()]
      .sort((a, b) => cmp(units(a[0]), units(b[0])) * (desc ? -1 : 1))
      .slice(0, DEPTH);
  }
  function levelRows(levels, cls, max) {
    return levels.map(([p, q]) => {
      const tr = document.createElement('tr');
      tr.className = cls;
      tr.dataset.price = p;
      tr.append(cell(p, 'num price'), cell(q, 'num'));
      tr.style.setProperty('--depth', ((100 * Number(q)) / max).toFixed(1) + '%');
      return tr;
    });
  }
  function renderBook() {
    const bids = best(book.bids, true), asks = best(book.asks, false);
    const max = Math.max(1e-12, ...bids.map((l) => Number(l[1])), ...asks.map((l) => Number(l[1])));
    const askRows = levelRows(asks.slice().reverse(), 'ask', max);
    const bidRows = levelRows(bids, 'bid', max);
    $('asks').replaceChildren(...(askRows.length ? askRows : [emptyRow(2, 'No sell orders', 'ask')]));
    $('bids').replaceChildren(...(bidRows.length ? bidRows : [emptyRow(2, 'No buy orders', 'bid')]));
    renderSpread();
    if (orderForm) orderForm.setBook(bids, asks);
  }
  // Between the sides: the spread, or the last price while a side is empty.
  function renderSpread() {
    const bid = best(book.bids, true)[0], ask = best(book.asks, false)[0];
    $('spread').textContent = bid && ask ? 'Spread ' + formatUnits(units(ask[0]) - units(bid[0])) : 'Last ' + $('last').textContent;
  }
  function formatUnits(v) {
    const s = (v < 0n ? -v : v).toString().padStart(9, '0');
    const frac = s.slice(-8).replace(/0+$/, '');
    return (v < 0n ? '-' : '') + s.slice(0, -8) + (frac ? '.' + frac : '');
  }

  // A click on a level copies its price into the order form.
  for (const id of ['asks', 'bids']) {
    $(id).addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr[data-price]');
      if (tr && orderForm) orderForm.setPrice(tr.dataset.price);
    });
  }

  // ---- recent trades ----
  const trades = []; // newest first
  const seenTrades = new Set();
  for (const tr of $('trades').querySelectorAll('tr[data-id]')) seenTrades.add(tr.dataset.id);

  function addTrades(list, fresh) {
    let added = false;
    for (const t of list) {
      if (seenTrades.has(t.id)) continue;
      seenTrades.add(t.id);
      trades.push({ t, fresh });
      added = true;
    }
    if (!added) return;
    trades.sort((a, b) => cmp(BigInt(b.t.id), BigInt(a.t.id)));
    trades.length = Math.min(trades.length, TRADES);
    renderTrades();
  }
  function renderTrades() {
    const rows = trades.map(({ t, fresh }) => {
      const tr = document.createElement('tr');
      tr.dataset.id = t.id;
      if (fresh) tr.className = 'new';
      const time = new Date(t.time).toISOString().slice(11, 19);
      tr.append(cell(time), cell(t.price, 'num ' + (t.taker_side === 'buy' ? 'up' : 'down')), cell(t.quantity, 'num'));
      return tr;
    });
    for (const t of trades) t.fresh = false;
    $('trades').replaceChildren(...(rows.length ? rows : [emptyRow(3, 'No trades yet')]));
  }
  async function refreshTrades() {
    const list = await getJSON('/api/v1/markets/' + encodeURIComponent(market) + '/trades?limit=' + TRADES);
    if (list) {
      // The server-rendered rows are replaced by the same trades, from here on kept by the script.
      seenTrades.clear();
      trades.length = 0;
      addTrades(list, false);
      if (!list.length) renderTrades();
    }
  }

  // ---- ticker ----
  function renderTicker(t) {
    const dash = '—';
    $('last').textContent = t.last || dash;
    $('high').textContent = t.high_24h || dash;
    $('low').textContent = t.low_24h || dash;
    $('volume').textContent = t.volume_24h;
    const change = $('change');
    change.className = '';
    if (t.last && t.open_24h && Number(t.open_24h) !== 0) {
      const pct = ((Number(t.last) - Number(t.open_24h)) / Number(t.open_24h)) * 100;
      change.textContent = (pct >= 0 ? '+' : '') + pct.toFixed(2) + '%';
      if (pct > 0) change.className = 'up';
      if (pct < 0) change.className = 'down';
    } else {
      change.textContent = dash;
    }
    renderSpread();
  }
  // The 24 h figures move on the server every few seconds, trade or not.
  async function refreshTicker() {
    const t = await getJSON('/api/v1/markets/' + encodeURIComponent(market) + '/ticker');
    if (t) renderTicker(t);
  }

  // ---- the user's orders and balances ----
  const orders = new Map(); // id -> latest known state
  function upsertOrder(o) {
    const prev = orders.get(o.id);
    if (prev && Date.parse(prev.updated_at) > Date.parse(o.updated_at)) return; // an older state arrived late
    orders.set(o.id, o);
    if (prev && OPEN.has(prev.status) && !OPEN.has(o.status)) closedNotice(o);
    renderOrders();
  }
  // closedNotice says why a resting order left the list, when the trader
  // did not just press its Cancel button: filled, or cancelled by
  // self-trade prevention, an admin, a halt or a closed API connection.
  function closedNotice(o) {
    const what = o.side + ' order ' + o.id;
    let text = '';
    if (o.status === 'filled') {
      text = 'Your ' + what + ' filled: ' + D.grouped(o.filled_quantity) + ' ' + root.dataset.base + ' at an average price of ' +
        D.grouped(o.average_price) + ' ' + root.dataset.quote + '.';
    } else if (o.cancel_reason && o.cancel_reason !== 'user') {
      const r = WORDS.reasons[o.cancel_reason];
      text = 'Your ' + what + ' was cancelled ' + (r ? r.long : '(' + o.cancel_reason + ')') + '.';
    }
    if (text && $('orders-notice')) $('orders-notice').textContent = text;
  }
  function renderOrders() {
    const body = $('open-orders');
    if (!body) return;
    const open = [...orders.values()].filter((o) => OPEN.has(o.status)).sort((a, b) => cmp(BigInt(b.id), BigInt(a.id)));
    const rows = open.map((o) => {
      const tr = document.createElement('tr');
      tr.dataset.id = o.id;
      tr.append(cell(o.side, o.side === 'buy' ? 'up' : 'down'), cell(o.price ? D.grouped(o.price) : 'market', 'num'),
        cell(o.quantity ? D.grouped(o.quantity) : '—', 'num'), cell(D.grouped(o.filled_quantity), 'num'), cell(statusLabel(o)));
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/orders/' + encodeURIComponent(o.id) + '/cancel';
      form.className = 'cancel';
      form.append(hidden('csrf_token', body.dataset.csrf), hidden('back', body.dataset.back));
      const button = document.createElement('button');
      button.type = 'submit';
      button.className = 'small';
      button.textContent = 'Cancel';
      button.setAttribute('aria-label', 'Cancel order ' + o.id);
      form.append(button);
      const td = document.createElement('td');
      td.append(form);
      tr.append(td);
      return tr;
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No open orders')]));
  }
  function hidden(name, value) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    return input;
  }
  async function refreshOrders() {
    const page = await getJSON('/api/v1/orders?status=open&limit=500&market=' + encodeURIComponent(market));
    if (!page) return;
    const ids = new Set(page.data.map((o) => o.id));
    // Orders that closed while the socket was down are no longer listed.
    for (const [id, o] of orders) if (!ids.has(id) && OPEN.has(o.status)) orders.delete(id);
    for (const o of page.data) upsertOrder(o);
    renderOrders();
  }
  function renderBalances(list) {
    for (const b of list) {
      if (b.asset === root.dataset.base && $('avail-base')) $('avail-base').textContent = D.grouped(b.available);
      if (b.asset === root.dataset.quote && $('avail-quote')) $('avail-quote').textContent = D.grouped(b.available);
      if (orderForm) orderForm.setBalance(b.asset, b.available);
    }
  }

  async function getJSON(url) {
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      return res.ok ? await res.json() : null;
    } catch (e) {
      return null;
    }
  }

  // ---- forms, sent with fetch to the page handlers ----
  const orderForm = window.ExchangeOrderForm(root, (list) => list.forEach(upsertOrder));
  const openBody = $('open-orders');
  if (openBody && orderForm) {
    openBody.addEventListener('submit', async (ev) => {
      const f = ev.target.closest('form.cancel');
      if (!f) return;
      ev.preventDefault();
      $('orders-error').textContent = '';
      $('orders-notice').textContent = '';
      for (const b of f.querySelectorAll('button')) b.disabled = true;
      try {
        const out = await orderForm.send(f);
        if (out.data) upsertOrder(out.data);
        $('orders-notice').textContent = out.notice;
      } catch (e) {
        $('orders-error').textContent = e.message;
        for (const b of f.querySelectorAll('button')) b.disabled = false;
      }
    });
  }
  const cancelAll = $('cancel-all');
  if (cancelAll && orderForm) {
    cancelAll.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      $('orders-error').textContent = '';
      $('orders-notice').textContent = '';
      const button = cancelAll.querySelector('button');
      button.disabled = true;
      try {
        const out = await orderForm.send(cancelAll);
        for (const o of out.data || []) upsertOrder(o);
        $('orders-notice').textContent = out.notice;
      } catch (e) {
        $('orders-error').textContent = e.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- chart ----
  const chart = window.ExchangeChart($('chart'), $('chart-empty'), market, Number(root.dataset.priceDecimals));
  for (const b of document.querySelectorAll('.intervals button')) {
    b.addEventListener('click', () => {
      for (const o of document.querySelectorAll('.intervals button')) o.setAttribute('aria-pressed', String(o === b));
      chart.setInterval(b.dataset.interval);
    });
  }

  // ---- the WebSocket ----
  const live = $('live');
  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
    root.dataset.live = state;
  }
  let ws = null, retries = 0;
  const sendWS = (msg) => ws && ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));

  function connect() {
    setLive('connecting', 'Connecting…');
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws');
    ws.onopen = () => {
      const channels = ['book:' + market, 'trades:' + market, 'ticker:' + market];
      if (authed) channels.push('orders', 'balances');
      sendWS({ op: 'subscribe', channels });
    };
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = () => {
      book.seq = -1;
      setLive('off', 'Disconnected: reconnecting…');
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries++));
    };
  }

  function handle(m) {
    switch (m.type) {
      case 'subscribed':
        if (m.channels.includes('trades:' + market)) {
          retries = 0;
          // Subscribed first, then read what came before: nothing is missed,
          // and trades seen twice are dropped by id.
          refreshTrades();
          chart.load();
          if (authed) refreshOrders();
          setLive('live', 'Live');
        }
        break;
      case 'snapshot':
        book.bids.clear();
        book.asks.clear();
        applyLevels(book.bids, m.bids);
        applyLevels(book.asks, m.asks);
        book.seq = m.sequence;
        renderBook();
        break;
      case 'delta':
        if (book.seq < 0) break;
        if (m.sequence !== book.seq + 1) {
          // A gap: start over from a new snapshot.
          book.seq = -1;
          sendWS({ op: 'unsubscribe', channels: ['book:' + market] });
          sendWS({ op: 'subscribe', channels: ['book:' + market] });
          break;
        }
        applyLevels(book.bids, m.bids);
        applyLevels(book.asks, m.asks);
        book.seq = m.sequence;
        renderBook();
        break;
      case 'trades':
        addTrades(m.data, true);
        for (const t of m.data) chart.addTrade(t);
        break;
      case 'ticker':
        renderTicker(m.data);
        break;
      case 'order':
        if (m.data.market === market) upsertOrder(m.data);
        break;
      case 'balances':
        renderBalances(m.data);
        break;
      case 'error':
        console.warn('market data:', m.code, m.message);
        break;
    }
  }

  chart.draw();
  connect();
  window.setInterval(refreshTicker, 10000);
})();
