// The market page's order form: the fields each kind of order takes, the
// total worked out from the amount (or the amount from the total), the
// 25-100 % buttons, a live preview of cost, fee and what the trader gets,
// and sending the form with fetch to the page handler. Every value is
// computed with window.Dec (BigInt units), never with floats; the server
// decides, the preview only estimates.
'use strict';

window.ExchangeOrderForm = function (root, onOrders) {
  const form = document.getElementById('order-form');
  if (!form) return null;
  const $ = (id) => document.getElementById(id);
  const D = window.Dec;
  const base = root.dataset.base, quote = root.dataset.quote;
  const lot = D.parse(root.dataset.lot), minNotional = D.parse(root.dataset.minNotional);
  const makerBps = BigInt(root.dataset.makerBps), takerBps = BigInt(root.dataset.takerBps);
  const baseStep = D.step(Number(root.dataset.basePrecision)), quoteStep = D.step(Number(root.dataset.quotePrecision));
  const type = $('type'), price = $('price'), amount = $('quantity'), total = $('total'), place = $('place');
  const percents = $('percents'), preview = $('preview');

  // by is the field the trader typed last (amount or total): the other
  // one follows it.
  let by = total.value && !amount.value ? 'total' : 'amount';
  const avail = { base: D.fromTyped($('avail-base').textContent) || 0n, quote: D.fromTyped($('avail-quote').textContent) || 0n };
  let book = { bids: [], asks: [] }; // [price, quantity] in units, best first

  const sell = () => $('side-sell').checked;
  const isMarket = () => type.value === 'market';
  const value = (input) => (input.disabled ? null : D.fromTyped(input.value));
  const fee = (v, bps, stepUnits) => D.floorTo((v * bps) / 10000n, stepUnits);
  const pct = (bps) => (bps / 100n).toString() + '.' + (bps % 100n).toString().padStart(2, '0') + '%';

  // Which fields the order takes: no price for a market order (hidden, and
  // disabled so it is not sent), no total for a market sell.
  function layout() {
    const market = isMarket(), s = sell();
    price.disabled = market;
    $('price-field').hidden = market;
    total.disabled = market && s;
    $('total-field').hidden = market && s;
    $('total-help').textContent = market
      ? 'The most to spend: the order buys what this affords at the book\u2019s prices. Or give an amount instead.'
      : 'What the amount costs at your price; type a total and the amount follows.';
    if (market && s) by = 'amount';
    place.className = 'primary ' + (s ? 'sell' : 'buy');
    place.textContent = (s ? 'Sell ' : 'Buy ') + base;
    follow();
  }

  // follow fills the field the trader did not type: for a limit order
  // the total is price x amount, or the amount is the total / price
  // rounded down to the lot. A market buy takes one or the other.
  function follow() {
    const p = value(price);
    if (isMarket()) {
      if (!total.disabled && by === 'amount' && amount.value) total.value = '';
      if (by === 'total' && total.value) amount.value = '';
    } else if (p && p > 0n) {
      if (by === 'amount') {
        const a = value(amount);
        if (a !== null) total.value = a > 0n ? D.plainText(D.mul(p, a)) : '';
      } else {
        const t = value(total);
        // Less than one lot leaves the amount empty: the server then says
        // what the total falls short of.
        const q = t === null ? 0n : D.floorTo(D.div(t, p), lot);
        if (t !== null) amount.value = q > 0n ? D.plainText(q) : '';
      }
    }
    renderPreview();
  }

  // walk fills a market order against the book as the engine would:
  // level by level, whole lots, by amount or within a budget.
  function walk(levels, want, budget) {
    let got = 0n, cost = 0n;
    for (const [p, q] of levels) {
      let take = q;
      if (want !== null) take = want - got < q ? want - got : q;
      if (budget !== null) {
        const afford = D.floorTo(D.div(budget - cost, p), lot);
        if (afford < take) take = afford;
      }
      if (take <= 0n) break;
      got += take;
      cost += D.mul(p, take);
    }
    return { got, cost };
  }

  function line(label, text, cls) {
    const span = document.createElement('span');
    if (cls) span.className = cls;
    const b = document.createElement('b');
    b.textContent = text;
    span.append(label, b);
    return span;
  }

  function renderPreview() {
    const lines = [];
    const s = sell(), p = value(price), a = value(amount), t = value(total);
    let cost = null, spend = null, bought = null, fees = '', gets = null;
    if (!isMarket()) {
      if (p && a) {
        cost = D.mul(p, a);
        const crosses = s ? book.bids.length && book.bids[0][0] >= p : book.asks.length && book.asks[0][0] <= p;
        const bps = crosses ? takerBps : makerBps;
        const f = s ? fee(cost, bps, quoteStep) : fee(a, bps, baseStep);
        fees = D.format(f) + ' ' + (s ? quote : base) + (crosses ? ' (taker ' + pct(takerBps) + ': it trades at once)' : ' (maker ' + pct(makerBps) + ' if it rests)');
        gets = s ? D.format(cost - f) + ' ' + quote : D.format(a - f) + ' ' + base;
      }
    } else if (s && a) {
      const w = walk(book.bids, a, null);
      cost = w.cost;
      const f = fee(w.cost, takerBps, quoteStep);
      fees = '≈ ' + D.format(f) + ' ' + quote + ' (taker ' + pct(takerBps) + ')';
      gets = '≈ ' + D.format(w.cost - f) + ' ' + quote + (w.got < a ? ' (the book holds only ' + D.format(w.got) + ' ' + base + ')' : '');
    } else if (!s && (a || t)) {
      const w = a ? walk(book.asks, a, null) : walk(book.asks, null, t);
      cost = w.cost;
      if (t) {
        spend = t;
        bought = '≈ ' + D.format(w.got) + ' ' + base;
      }
      const f = fee(w.got, takerBps, baseStep);
      fees = '≈ ' + D.format(f) + ' ' + base + ' (taker ' + pct(takerBps) + ')';
      gets = '≈ ' + D.format(w.got - f) + ' ' + base + (a && w.got < a ? ' (the book holds only ' + D.format(w.got) + ')' : '');
    }
    if (cost !== null) {
      if (bought) lines.push(line('Buys', bought));
      lines.push(line(s ? 'Worth' : 'Cost', (isMarket() ? '≈ ' : '') + D.format(cost) + ' ' + quote));
      lines.push(line('Fee', fees));
      lines.push(line('You get', gets));
      if (cost > 0n && cost < minNotional) lines.push(line('Too small:', 'the minimum order is ' + D.format(minNotional) + ' ' + quote, 'warn'));
      if (!s && (spend || cost) > avail.quote) lines.push(line('More than you have:', D.format(avail.quote) + ' ' + quote, 'warn'));
    }
    if (s && a && a > avail.base) lines.push(line('More than you have:', D.format(avail.base) + ' ' + base, 'warn'));
    preview.replaceChildren(...lines);
  }

  // The 25-100 % buttons fill in a part of what the trader may spend:
  // the quote asset for a buy (as the total), the base asset for a sell.
  function share(percent) {
    const n = BigInt(percent);
    if (sell()) {
      by = 'amount';
      amount.value = D.plainText(D.floorTo((avail.base * n) / 100n, lot));
    } else {
      by = 'total';
      total.value = D.plainText(D.floorTo((avail.quote * n) / 100n, quoteStep));
    }
    follow();
  }

  for (const r of form.querySelectorAll('input[name="side"]')) r.addEventListener('change', layout);
  type.addEventListener('change', layout);
  price.addEventListener('input', follow);
  amount.addEventListener('input', () => { by = 'amount'; follow(); });
  total.addEventListener('input', () => { by = 'total'; follow(); });
  percents.hidden = false;
  percents.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-percent]');
    if (b) share(b.dataset.percent);
  });

  async function send(f) {
    const res = await fetch(f.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(f)),
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    let out = {};
    try { out = await res.json(); } catch (e) { /* not JSON: a proxy's error page */ }
    if (!res.ok) {
      const msg = (out.error && out.error.message) || 'the exchange refused the request (' + res.status + ')';
      throw new Error(msg.charAt(0).toUpperCase() + msg.slice(1));
    }
    return out;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('order-error').textContent = '';
    $('order-notice').textContent = '';
    place.disabled = true;
    try {
      const out = await send(form);
      $('order-notice').textContent = out.notice;
      onOrders([out.data, ...(out.self_trade_cancelled || [])]);
      amount.value = '';
      total.value = '';
      renderPreview();
    } catch (e) {
      $('order-error').textContent = e.message;
    } finally {
      place.disabled = false;
    }
  });

  layout();
  return {
    send,
    // setBook takes the book's best levels as decimal strings.
    setBook(bids, asks) {
      const conv = (l) => l.map(([p, q]) => [D.parse(p), D.parse(q)]);
      book = { bids: conv(bids), asks: conv(asks) };
      renderPreview();
    },
    setBalance(asset, available) {
      const v = D.parse(available);
      if (v === null) return;
      if (asset === base) avail.base = v;
      if (asset === quote) avail.quote = v;
      renderPreview();
    },
    setPrice(p) {
      if (price.disabled) return;
      price.value = p;
      follow();
    },
  };
};
