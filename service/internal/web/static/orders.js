// The orders page, live: the orders channel moves an order between the
// open list and the history as it fills or is cancelled, and a fill
// reloads the fills list. After every (re)subscription the lists are read
// again over REST. An older page (?before=...) keeps its history and
// fills as they are: only the open orders follow there.
'use strict';

(function () {
  const root = document.getElementById('orders-page');
  if (!root) return;
  const D = window.Dec, S = window.Site;
  const $ = (id) => document.getElementById(id);
  const figures = JSON.parse(root.dataset.figures);
  const WORDS = JSON.parse(root.dataset.words);
  const firstPage = root.dataset.firstPage === '1';
  const HISTORY = 50;
  const orders = S.keyed(); // open and recent closed orders, by id
  const byNewest = (a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1);
  const mf = (o) => figures.markets[o.market] || { price: 0, amount: 0 };
  const sideCell = (side) => S.cell(side, side === 'buy' ? 'up' : 'down');

  const statusLabel = (o) => S.orderLabel(WORDS, o);
  function withAsset(text, asset) {
    const span = document.createElement('span');
    const muted = document.createElement('span');
    muted.className = 'muted';
    muted.textContent = asset;
    span.append(text + ' ', muted);
    return span;
  }
  function marketLink(name) {
    const a = document.createElement('a');
    a.href = '/markets/' + encodeURIComponent(name);
    a.textContent = name;
    return a;
  }

  function openRow(o) {
    const f = mf(o), tr = document.createElement('tr');
    tr.dataset.id = o.id;
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/orders/' + encodeURIComponent(o.id) + '/cancel';
    form.className = 'cancel';
    const button = document.createElement('button');
    button.type = 'submit';
    button.className = 'small';
    button.textContent = 'Cancel';
    button.setAttribute('aria-label', 'Cancel order ' + o.id);
    form.append(S.hidden('csrf_token', root.dataset.csrf), S.hidden('back', '/orders'), button);
    tr.append(S.cell(S.time(o.created_at)), S.cell(marketLink(o.market)), sideCell(o.side), S.cell(D.fixed(o.price, f.price), 'num'),
      S.cell(D.fixed(o.quantity, f.amount), 'num'), S.cell(D.fixed(o.filled_quantity, f.amount), 'num'), S.cell(statusLabel(o)), S.cell(form));
    return tr;
  }
  function historyRow(o) {
    const f = mf(o), tr = document.createElement('tr');
    tr.dataset.id = o.id;
    const amount = o.quantity ? D.fixed(o.quantity, f.amount) : withAsset(D.fixed(o.quote_quantity, f.price + f.amount), 'quote');
    tr.append(S.cell(S.time(o.created_at)), S.cell(o.market), sideCell(o.side), S.cell(o.type), S.cell(D.fixed(o.price, f.price), 'num'),
      S.cell(amount, 'num'), S.cell(D.fixed(o.filled_quantity, f.amount), 'num'), S.cell(D.fixed(o.average_price, f.price), 'num'),
      S.cell(withAsset(D.fixed(o.fee, figures.assets[o.fee_asset] || 0), o.fee_asset), 'num'), S.cell(statusLabel(o)));
    return tr;
  }
  function fillRow(x) {
    const f = mf(x), tr = document.createElement('tr');
    tr.dataset.id = x.trade_id;
    tr.append(S.cell(S.time(x.created_at)), S.cell(x.market), sideCell(x.side), S.cell(x.role), S.cell(D.fixed(x.price, f.price), 'num'),
      S.cell(D.fixed(x.quantity, f.amount), 'num'), S.cell(D.fixed(x.quote_quantity, f.price + f.amount), 'num'),
      S.cell(withAsset(D.fixed(x.fee, figures.assets[x.fee_asset] || 0), x.fee_asset), 'num'));
    return tr;
  }

  function render() {
    const all = [...orders.items.values()].sort(byNewest);
    const rows = all.filter(S.isOpenOrder).map(openRow);
    $('open-body').replaceChildren(...(rows.length ? rows : [S.emptyRow(8, 'No open orders')]));
    if (!firstPage) return;
    const past = all.filter((o) => !S.isOpenOrder(o)).slice(0, HISTORY).map(historyRow);
    $('history-body').replaceChildren(...(past.length ? past : [S.emptyRow(10, 'No filled or cancelled orders yet')]));
  }

  async function refreshFills() {
    const page = await S.getJSON('/api/v1/fills?limit=' + HISTORY);
    if (!page) return;
    const rows = page.data.map(fillRow);
    $('fills-body').replaceChildren(...(rows.length ? rows : [S.emptyRow(8, 'No fills yet')]));
  }
  let fillsTimer = 0;
  const fillsSoon = () => { clearTimeout(fillsTimer); fillsTimer = setTimeout(refreshFills, 300); };

  async function refresh() {
    const since = orders.begin();
    const [now, past] = await Promise.all([S.getJSON('/api/v1/orders?status=open&limit=500'),
      firstPage ? S.getJSON('/api/v1/orders?status=closed&limit=' + HISTORY) : null]);
    if (!now || (firstPage && !past)) return; // offline again: the next reconnect reads them
    orders.snapshot(now.data.concat(past ? past.data : []), since);
    render();
    if (firstPage) refreshFills();
  }

  window.ExchangeLive(['orders'], {
    onSync: refresh,
    onMessage(m) {
      if (m.type !== 'order') return;
      const prev = orders.update(m.data);
      if (prev === false) return; // an older state arrived late
      render();
      if (firstPage && (!prev || prev.filled_quantity !== m.data.filled_quantity)) fillsSoon();
    },
  });
})();
