// The market page, live: the order book (book.js), trades, ticker and
// chart from the public channels, the other markets' tickers for the
// switcher, and for a logged-in user their orders and balances from the
// private ones. The order form and the cancel buttons are sent with fetch
// to the same page handlers a plain form posts to, so the page never
// reloads. Amounts stay the exact decimal strings the server sends,
// shown to the market's tick and lot (data-figures).
'use strict';

(function () {
  const root = document.getElementById('market');
  if (!root) return;
  const market = root.dataset.market;
  const authed = root.dataset.auth === '1';
  const $ = (id) => document.getElementById(id);
  const TRADES = 30;
  const D = window.Dec, S = window.Site, M = window.ExchangeMarkets;
  const figures = JSON.parse(root.dataset.figures);
  const fig = figures.markets[market];
  // The site's words for statuses and cancel reasons (web/vocab.go).
  const WORDS = JSON.parse(root.dataset.words || '{"status":{},"reasons":{}}');
  const statusLabel = (o) => S.orderLabel(WORDS, o);
  const cmp = (a, b) => (a > b ? 1 : a < b ? -1 : 0);

  // ---- forms, sent with fetch to the page handlers ----
  const orderForm = window.ExchangeOrderForm(root, (list) => list.forEach(upsertOrder));

  // ---- order book ----
  const book = window.ExchangeBook(root, {
    onBest: (bids, asks) => orderForm && orderForm.setBook(bids, asks),
    onPick: (price) => orderForm && orderForm.setPrice(price),
  });

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
      tr.append(S.cell(S.time(t.time, 'clock')), S.cell(D.fixed(t.price, fig.price), 'num ' + (t.taker_side === 'buy' ? 'up' : 'down')),
        S.cell(D.fixed(t.quantity, fig.amount), 'num'));
      return tr;
    });
    for (const t of trades) t.fresh = false;
    $('trades').replaceChildren(...(rows.length ? rows : [S.emptyRow(3, 'No trades yet')]));
  }
  async function refreshTrades() {
    const list = await S.getJSON('/api/v1/markets/' + encodeURIComponent(market) + '/trades?limit=' + TRADES);
    if (!list) return;
    // The server-drawn rows are replaced by the same trades, from here on kept by the script.
    seenTrades.clear();
    trades.length = 0;
    addTrades(list, false);
    if (!list.length) renderTrades();
  }

  // ---- ticker ----
  let tickerTime = 0; // of the ticker shown: a REST answer that raced a newer message is dropped
  function renderTicker(t) {
    const at = Date.parse(t.time);
    if (at < tickerTime) return;
    tickerTime = at;
    $('last').textContent = D.fixed(t.last, fig.price);
    $('high').textContent = D.fixed(t.high_24h, fig.price);
    $('low').textContent = D.fixed(t.low_24h, fig.price);
    $('volume').textContent = D.fixed(t.volume_24h, fig.amount);
    const c = M.change(t);
    $('change').textContent = c.text;
    $('change').className = c.cls;
    book.setLast(t.last ? D.fixed(t.last, fig.price) : '');
  }
  // The 24 h figures move on the server every few seconds, trade or not.
  async function refreshTicker() {
    const t = await S.getJSON('/api/v1/markets/' + encodeURIComponent(market) + '/ticker');
    if (t) renderTicker(t);
  }

  // ---- the market switcher: its rows follow every market's ticker ----
  const switcher = $('switcher');
  const switchTable = $('switcher-markets');
  const onSwitchTicker = M.follow(switchTable, figures);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && switcher.open) {
      switcher.open = false;
      switcher.querySelector('summary').focus();
    }
  });
  document.addEventListener('click', (ev) => {
    if (switcher.open && !switcher.contains(ev.target)) switcher.open = false;
  });

  // ---- the user's orders and balances ----
  const orders = S.keyed(); // this market's orders, by id
  function upsertOrder(o) {
    const prev = orders.update(o);
    if (prev === false) return; // an older state arrived late
    if (prev && S.isOpenOrder(prev) && !S.isOpenOrder(o)) closedNotice(o);
    renderOrders();
  }
  // closedNotice says why a resting order left the list, when the trader
  // did not just press its Cancel button: filled, or cancelled by
  // self-trade prevention, an admin, a halt or a closed API connection.
  function closedNotice(o) {
    const what = o.side + ' order ' + o.id;
    let text = '';
    if (o.status === 'filled') {
      text = 'Your ' + what + ' filled: ' + D.grouped(o.filled_quantity) + ' ' + fig.base + ' at an average price of ' +
        D.grouped(o.average_price) + ' ' + fig.quote + '.';
    } else if (o.cancel_reason && o.cancel_reason !== 'user') {
      const r = WORDS.reasons[o.cancel_reason];
      text = 'Your ' + what + ' was cancelled ' + (r ? r.long : '(' + o.cancel_reason + ')') + '.';
    }
    if (text && $('orders-notice')) $('orders-notice').textContent = text;
  }
  function renderOrders() {
    const body = $('open-orders');
    if (!body) return;
    const open = [...orders.items.values()].filter(S.isOpenOrder).sort((a, b) => cmp(BigInt(b.id), BigInt(a.id)));
    const rows = open.map((o) => {
      const tr = document.createElement('tr');
      tr.dataset.id = o.id;
      tr.append(S.cell(o.side, o.side === 'buy' ? 'up' : 'down'), S.cell(o.price ? D.fixed(o.price, fig.price) : 'market', 'num'),
        S.cell(D.fixed(o.quantity, fig.amount), 'num'), S.cell(D.fixed(o.filled_quantity, fig.amount), 'num'), S.cell(statusLabel(o)));
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/orders/' + encodeURIComponent(o.id) + '/cancel';
      form.className = 'cancel';
      form.append(S.hidden('csrf_token', body.dataset.csrf), S.hidden('back', body.dataset.back));
      const button = document.createElement('button');
      button.type = 'submit';
      button.className = 'small';
      button.textContent = 'Cancel';
      button.setAttribute('aria-label', 'Cancel order ' + o.id);
      form.append(button);
      tr.append(S.cell(form));
      return tr;
    });
    body.replaceChildren(...(rows.length ? rows : [S.emptyRow(6, 'No open orders')]));
  }
  async function refreshOrders() {
    const since = orders.begin();
    const page = await S.getJSON('/api/v1/orders?status=open&limit=500&market=' + encodeURIComponent(market));
    if (!page) return;
    // Orders that closed while the socket was down are no longer listed.
    orders.snapshot(page.data, since);
    renderOrders();
  }
  function renderBalances(list) {
    for (const b of list) {
      if (b.asset === fig.base && $('avail-base')) $('avail-base').textContent = D.grouped(b.available);
      if (b.asset === fig.quote && $('avail-quote')) $('avail-quote').textContent = D.grouped(b.available);
      if (orderForm) orderForm.setBalance(b.asset, b.available);
    }
  }
  let pushes = 0; // balances messages received: a REST answer older than one is dropped
  async function refreshBalances() {
    const pushed = pushes;
    const list = await S.getJSON('/api/v1/balances');
    if (list && pushes === pushed) renderBalances(list);
  }

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
  const chart = window.ExchangeChart($('chart'), $('chart-empty'), $('chart-readout'), market, fig, fig.base);
  for (const b of document.querySelectorAll('.intervals button')) {
    b.addEventListener('click', () => {
      for (const o of document.querySelectorAll('.intervals button')) o.setAttribute('aria-pressed', String(o === b));
      chart.setInterval(b.dataset.interval);
    });
  }

  // ---- the WebSocket ----
  const bookChannel = 'book:' + market;
  const channels = [bookChannel, 'trades:' + market, 'ticker:' + market];
  if (authed) channels.push('orders', 'balances');
  // The other markets' tickers, for the switcher, in what the socket has left.
  for (const ch of M.tickerChannels(switchTable, 20 - channels.length)) if (!channels.includes(ch)) channels.push(ch);

  const live = window.ExchangeLive(channels, {
    // Subscribed first, then read what came before: nothing is missed,
    // and trades seen twice are dropped by id.
    onSync() {
      root.dataset.live = 'live';
      refreshTrades();
      chart.load();
      if (authed) {
        refreshOrders();
        refreshBalances();
      }
    },
    onClose() {
      root.dataset.live = 'off';
      book.reset();
    },
    onMessage(m) {
      switch (m.type) {
        case 'snapshot':
        case 'delta':
          if (!book.message(m)) live.resubscribe(bookChannel); // a gap: start over from a new snapshot
          break;
        case 'trades':
          addTrades(m.data, true);
          for (const t of m.data) chart.addTrade(t);
          break;
        case 'ticker':
          onSwitchTicker(m);
          if (m.data.market === market) renderTicker(m.data);
          break;
        case 'order':
          if (m.data.market === market) upsertOrder(m.data);
          break;
        case 'balances':
          pushes++;
          renderBalances(m.data);
          break;
        case 'error':
          console.warn('market data:', m.code, m.message);
          break;
      }
    },
  });

  chart.draw();
  window.setInterval(refreshTicker, 10000);
})();
