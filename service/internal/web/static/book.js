// The market page's order book. It keeps an exact copy of the whole book
// (BigInt units, never floats) from the book channel's snapshot and its
// gap-free deltas, and draws the best levels grouped by the chosen price
// step (bids rounded down to it, asks up, as a buyer's and a seller's
// limits go), each with its amount and the running total from the best
// price, a depth bar as long as that total, and between the sides the
// spread, in the quote asset and as a share of the midpoint.
'use strict';

window.ExchangeBook = function (root, hooks) {
  const D = window.Dec, S = window.Site;
  const $ = (id) => document.getElementById(id);
  const fig = JSON.parse(root.dataset.figures).markets[root.dataset.market];
  const DEPTH = 15;
  const state = { seq: -1, bids: new Map(), asks: new Map() }; // price units -> quantity units
  const groupSelect = $('book-group');
  let step = D.parse(root.dataset.tick), stepDecimals = fig.price;
  let last = '';

  function apply(side, levels) {
    for (const [p, q] of levels) {
      const price = D.parse(p), qty = D.parse(q);
      if (price === null || qty === null) continue;
      if (qty === 0n) side.delete(price);
      else side.set(price, qty);
    }
  }
  const sorted = (side, desc) => [...side.entries()].sort((a, b) => (a[0] === b[0] ? 0 : (a[0] > b[0]) === desc ? -1 : 1));

  // grouped merges sorted levels into steps, best first, keeping DEPTH.
  function grouped(levels, bids) {
    const out = [];
    for (const [p, q] of levels) {
      const g = bids ? D.floorTo(p, step) : D.ceilTo(p, step);
      const top = out[out.length - 1];
      if (top && top[0] === g) top[1] += q;
      else if (out.length === DEPTH) break;
      else out.push([g, q]);
    }
    let total = 0n;
    return out.map(([p, q]) => [p, q, (total += q)]);
  }

  function rows(levels, cls, max) {
    return levels.map(([p, q, total]) => {
      const tr = document.createElement('tr');
      tr.className = cls;
      tr.dataset.price = D.plainText(p);
      tr.append(S.cell(D.fixedUnits(p, stepDecimals), 'num price'), S.cell(D.fixedUnits(q, fig.amount), 'num'),
        S.cell(D.fixedUnits(total, fig.amount), 'num'));
      // A display ratio: a float is fine for the bar's length.
      tr.style.setProperty('--depth', ((100 * Number(total)) / max).toFixed(1) + '%');
      return tr;
    });
  }

  function render() {
    const bidLevels = sorted(state.bids, true), askLevels = sorted(state.asks, false);
    const bids = grouped(bidLevels, true), asks = grouped(askLevels, false);
    const deepest = (l) => (l.length ? Number(l[l.length - 1][2]) : 0);
    const max = Math.max(1, deepest(bids), deepest(asks));
    const askRows = rows(asks.reverse(), 'ask', max), bidRows = rows(bids, 'bid', max);
    $('asks').replaceChildren(...(askRows.length ? askRows : [S.emptyRow(3, 'No sell orders', 'ask')]));
    $('bids').replaceChildren(...(bidRows.length ? bidRows : [S.emptyRow(3, 'No buy orders', 'bid')]));
    renderSpread(bidLevels[0], askLevels[0]);
    const plain = (l) => l.slice(0, DEPTH).map(([p, q]) => [D.plainText(p), D.plainText(q)]);
    if (hooks.onBest) hooks.onBest(plain(bidLevels), plain(askLevels));
  }

  // Between the sides: the spread, or the last price while a side is empty.
  function renderSpread(bid, ask) {
    const td = $('spread');
    if (!bid || !ask) {
      td.textContent = last ? 'Last ' + last : '';
      return;
    }
    const spread = ask[0] - bid[0];
    // A display ratio again: the spread as a percentage of the midpoint.
    const pct = (200 * Number(spread)) / Number(ask[0] + bid[0]);
    const shown = pct >= 0.1 ? pct.toFixed(2) : pct >= 0.001 ? pct.toFixed(3) : pct > 0 ? '<0.001' : '0.00';
    const lastSpan = document.createElement('span');
    lastSpan.className = 'mid-last';
    lastSpan.textContent = last;
    td.replaceChildren(lastSpan, ' Spread ' + D.fixedUnits(spread, fig.price) + ' \u00b7 ' + shown + '%');
  }

  if (groupSelect) {
    $('book-group-field').hidden = false;
    groupSelect.addEventListener('change', () => {
      step = D.parse(groupSelect.value);
      stepDecimals = Math.min(fig.price, (groupSelect.value.split('.')[1] || '').length);
      render();
    });
  }
  for (const id of ['asks', 'bids']) {
    $(id).addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr[data-price]');
      if (tr && hooks.onPick) hooks.onPick(tr.dataset.price);
    });
  }

  return {
    // message takes a book channel message; false means a gap: the caller
    // resubscribes for a new snapshot.
    message(m) {
      if (m.type === 'snapshot') {
        state.bids.clear();
        state.asks.clear();
      } else if (state.seq < 0) {
        return true; // deltas before the snapshot are old news
      } else if (m.sequence !== state.seq + 1) {
        state.seq = -1;
        return false;
      }
      apply(state.bids, m.bids);
      apply(state.asks, m.asks);
      state.seq = m.sequence;
      render();
      return true;
    },
    reset() { state.seq = -1; },
    setLast(text) {
      last = text;
      renderSpread(sorted(state.bids, true)[0], sorted(state.asks, false)[0]);
    },
  };
};
