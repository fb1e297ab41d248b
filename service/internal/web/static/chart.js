// The market page's candle chart, drawn on a canvas by our own code (no
// charting library: docs/web.md says why). Candles come from
// GET /api/v1/markets/{market}/candles and the trades the page receives
// over the WebSocket are folded in as they come. Volume bars below the
// candles; a crosshair follows the pointer, and the readout above the
// chart shows the open, high, low, close and volume of the candle under
// it (of the latest candle otherwise). The readout's figures are the
// exact strings the server sent, or sums of them in BigInt units; only
// the drawing turns them into numbers. Times are in the reader's zone;
// day candles are UTC days, and say so.
'use strict';

window.ExchangeChart = function (canvas, emptyNote, readout, market, fig, base) {
  const D = window.Dec, S = window.Site;
  const widths = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3, '1d': 86400e3 };
  const up = '#0f8a4c', down = '#c62f2f', grid = '#e6eaef', label = '#5f6b7a', cross = '#3b4656';
  let interval = '1m';
  let candles = []; // {t, o, h, l, c, v}: exact decimal strings, oldest first
  let loading = 0;
  let pointer = null; // {x, y} in CSS pixels while the pointer is over the chart
  let geo = null; // the last drawing's geometry, for the pointer

  const num = Number; // for drawing only
  const candle = (t, o, h, l, c, v) => ({ t, o, h, l, c, v });

  async function load() {
    const ticket = ++loading;
    const rows = await S.getJSON('/api/v1/markets/' + encodeURIComponent(market) + '/candles?interval=' + interval);
    if (!rows || ticket !== loading) return; // offline: keep what is drawn; the next reconnect reloads
    candles = rows.map((r) => candle(Date.parse(r[0]), r[1], r[2], r[3], r[4], r[5]));
    draw();
  }

  // addTrade folds a live trade into the current candle, or starts one.
  function addTrade(trade) {
    const w = widths[interval];
    const t = Math.floor(Date.parse(trade.time) / w) * w;
    const last = candles[candles.length - 1];
    const p = D.parse(trade.price);
    if (last && last.t === t) {
      if (p > D.parse(last.h)) last.h = trade.price;
      if (p < D.parse(last.l)) last.l = trade.price;
      last.c = trade.price;
      last.v = D.plainText(D.parse(last.v) + D.parse(trade.quantity));
    } else if (!last || t > last.t) {
      candles.push(candle(t, trade.price, trade.price, trade.price, trade.price, trade.quantity));
    }
    draw();
  }

  function timeText(t, kind) {
    if (interval === '1d') return new Date(t).toISOString().slice(0, 10) + (kind === 'axis' ? '' : ' (UTC day)');
    return S.localText(new Date(t), kind === 'axis' ? 'clock' : 'minute').slice(0, kind === 'axis' ? 5 : undefined);
  }

  function renderReadout(c) {
    if (!c) {
      readout.replaceChildren();
      return;
    }
    if (c.o === null) {
      const span = document.createElement('span');
      span.textContent = timeText(c.t) + ': no trades';
      readout.replaceChildren(span);
      return;
    }
    const parts = [['', timeText(c.t)], ['O', D.fixed(c.o, fig.price)], ['H', D.fixed(c.h, fig.price)], ['L', D.fixed(c.l, fig.price)],
      ['C', D.fixed(c.c, fig.price)], ['V', D.fixed(c.v, fig.amount) + ' ' + base]];
    const out = [];
    for (const [k, v] of parts) {
      const span = document.createElement('span');
      if (k) {
        const key = document.createElement('span');
        key.className = 'k';
        key.textContent = k;
        span.append(key, ' ');
      }
      const b = document.createElement('b');
      b.textContent = v;
      if (k) b.className = D.parse(c.c) >= D.parse(c.o) ? 'up' : 'down';
      span.append(b);
      out.push(span);
    }
    readout.replaceChildren(...out);
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const width = widths[interval];
    const axisW = 74, axisH = 20, gap = 6, top = 10;
    const plotW = w - axisW, volH = Math.round(h * 0.18), plotH = h - axisH - volH - gap - top;
    const slots = Math.max(20, Math.min(100, Math.floor(plotW / 9)));
    const end = Math.floor(Date.now() / width) * width;
    const start = end - (slots - 1) * width;
    const shown = candles.filter((c) => c.t >= start && c.t <= end);
    emptyNote.hidden = shown.length > 0;
    geo = null;
    if (!shown.length) {
      renderReadout(null);
      return;
    }

    let lo = Math.min(...shown.map((c) => num(c.l))), hi = Math.max(...shown.map((c) => num(c.h)));
    if (hi === lo) { hi *= 1.01; lo *= 0.99; }
    const pad = (hi - lo) * 0.08;
    hi += pad; lo -= pad;
    const y = (p) => top + ((hi - p) / (hi - lo)) * plotH;
    const slot = plotW / slots;
    const x = (t) => ((t - start) / width) * slot + slot / 2;
    geo = { start, width, slot, slots, top, plotW, plotH, hi, lo, shown };

    // Price grid and labels on the right, to the tick's decimals.
    g.font = '11px ui-monospace, monospace';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const p = lo + ((hi - lo) * i) / 4;
      const yy = Math.round(y(p)) + 0.5;
      g.strokeStyle = grid;
      g.beginPath(); g.moveTo(0, yy); g.lineTo(plotW, yy); g.stroke();
      g.fillStyle = label;
      g.fillText(D.grouped(p.toFixed(fig.price)), plotW + 6, yy);
    }
    // Time labels along the bottom, in the reader's zone.
    g.textBaseline = 'top';
    g.textAlign = 'center';
    const every = Math.max(1, Math.round(slots / 5));
    for (let i = Math.floor(every / 2); i < slots; i += every) {
      const t = start + i * width;
      g.fillStyle = label;
      g.fillText(timeText(t, 'axis'), x(t), h - axisH + 4);
    }
    g.textAlign = 'start';

    const maxVol = Math.max(...shown.map((c) => num(c.v)), 1e-12);
    const body = Math.max(1, Math.floor(slot * 0.65));
    for (const c of shown) {
      const cx = Math.round(x(c.t)) + 0.5;
      g.strokeStyle = g.fillStyle = num(c.c) >= num(c.o) ? up : down;
      g.beginPath(); g.moveTo(cx, y(num(c.h))); g.lineTo(cx, y(num(c.l))); g.stroke();
      const upper = y(Math.max(num(c.o), num(c.c))), lower = y(Math.min(num(c.o), num(c.c)));
      g.fillRect(cx - body / 2, upper, body, Math.max(2, lower - upper));
      const vh = (num(c.v) / maxVol) * volH;
      g.globalAlpha = 0.35;
      g.fillRect(cx - body / 2, top + plotH + gap + volH - vh, body, vh);
      g.globalAlpha = 1;
    }
    drawPointer(g, h, axisH, x, y);
  }

  // drawPointer draws the crosshair and fills the readout: the candle
  // under the pointer, or the latest one when the pointer is elsewhere.
  function drawPointer(g, h, axisH, x, y) {
    if (!pointer || pointer.x > geo.plotW) {
      renderReadout(geo.shown[geo.shown.length - 1]);
      return;
    }
    const i = Math.min(geo.slots - 1, Math.max(0, Math.floor(pointer.x / geo.slot)));
    const t = geo.start + i * geo.width;
    renderReadout(geo.shown.find((c) => c.t === t) || candle(t, null, null, null, null, null));
    const cx = Math.round(x(t)) + 0.5;
    g.save();
    g.strokeStyle = cross;
    g.setLineDash([4, 3]);
    g.beginPath(); g.moveTo(cx, geo.top); g.lineTo(cx, h - axisH); g.stroke();
    const inPlot = pointer.y >= geo.top && pointer.y <= geo.top + geo.plotH;
    if (inPlot) {
      const yy = Math.round(pointer.y) + 0.5;
      g.beginPath(); g.moveTo(0, yy); g.lineTo(geo.plotW, yy); g.stroke();
    }
    g.setLineDash([]);
    g.font = '11px ui-monospace, monospace';
    g.textBaseline = 'middle';
    if (inPlot) {
      // A position on the price axis, not an amount: a float is fine.
      const p = geo.hi - ((pointer.y - geo.top) / geo.plotH) * (geo.hi - geo.lo);
      g.fillStyle = cross;
      g.fillRect(geo.plotW + 1, pointer.y - 8, 73, 16);
      g.fillStyle = '#fff';
      g.fillText(D.grouped(p.toFixed(fig.price)), geo.plotW + 6, pointer.y);
    }
    const tl = timeText(t, 'axis');
    const tw = g.measureText(tl).width + 10;
    g.fillStyle = cross;
    g.fillRect(cx - tw / 2, h - axisH, tw, axisH - 2);
    g.fillStyle = '#fff';
    g.textAlign = 'center';
    g.fillText(tl, cx, h - axisH / 2 - 1);
    g.restore();
  }

  function point(ev) {
    const r = canvas.getBoundingClientRect();
    pointer = { x: ev.clientX - r.left, y: ev.clientY - r.top };
    draw();
  }
  canvas.addEventListener('pointermove', point);
  canvas.addEventListener('pointerdown', point);
  canvas.addEventListener('pointerleave', () => { pointer = null; draw(); });

  function setInterval_(name) {
    if (!widths[name]) return;
    interval = name;
    candles = [];
    draw();
    load();
  }

  window.addEventListener('resize', draw);
  // Slide the window as time passes, even without trades.
  window.setInterval(draw, 15000);
  return { load, addTrade, draw, setInterval: setInterval_ };
};
