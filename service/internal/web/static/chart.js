// Candle chart of the market page, drawn on a canvas from
// GET /api/v1/markets/{market}/candles and kept current by the trades the
// page receives over the WebSocket. An interval without trades has no
// candle (the API invents none), so the chart shows a gap there.
'use strict';

window.ExchangeChart = function (canvas, emptyNote, market, priceDecimals) {
  const widths = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3, '1d': 86400e3 };
  const up = '#0f8a4c', down = '#c62f2f', grid = '#e6eaef', label = '#5f6b7a';
  let interval = '1m';
  let candles = []; // {t, o, h, l, c, v}, oldest first; numbers are for drawing only
  let loading = 0;

  async function load() {
    const ticket = ++loading;
    try {
      const res = await fetch('/api/v1/markets/' + encodeURIComponent(market) + '/candles?interval=' + interval,
        { headers: { Accept: 'application/json' } });
      if (!res.ok || ticket !== loading) return;
      const rows = await res.json();
      candles = rows.map((r) => ({ t: Date.parse(r[0]), o: +r[1], h: +r[2], l: +r[3], c: +r[4], v: +r[5] }));
    } catch (e) {
      return; // offline: keep what is drawn; the next reconnect reloads
    }
    draw();
  }

  // addTrade folds a live trade into the current candle, or starts one.
  function addTrade(trade) {
    const w = widths[interval];
    const t = Math.floor(Date.parse(trade.time) / w) * w;
    const p = +trade.price, q = +trade.quantity;
    const last = candles[candles.length - 1];
    if (last && last.t === t) {
      last.h = Math.max(last.h, p);
      last.l = Math.min(last.l, p);
      last.c = p;
      last.v += q;
    } else if (!last || t > last.t) {
      candles.push({ t, o: p, h: p, l: p, c: p, v: q });
    }
    draw();
  }

  function timeLabel(t) {
    const d = new Date(t);
    const pad = (n) => String(n).padStart(2, '0');
    if (interval === '1d') return pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
    return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
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
    const axisW = 70, axisH = 20, gap = 6, top = 10;
    const plotW = w - axisW, volH = Math.round(h * 0.18), plotH = h - axisH - volH - gap - top;
    const slots = Math.max(20, Math.min(100, Math.floor(plotW / 9)));
    const end = Math.floor(Date.now() / width) * width;
    const start = end - (slots - 1) * width;
    const shown = candles.filter((c) => c.t >= start && c.t <= end);
    emptyNote.hidden = shown.length > 0;
    if (!shown.length) return;

    let lo = Math.min(...shown.map((c) => c.l)), hi = Math.max(...shown.map((c) => c.h));
    if (hi === lo) { hi *= 1.01; lo *= 0.99; }
    const pad = (hi - lo) * 0.08;
    hi += pad; lo -= pad;
    const y = (p) => top + ((hi - p) / (hi - lo)) * plotH;
    const slot = plotW / slots;
    const x = (t) => ((t - start) / width) * slot + slot / 2;

    // Price grid and labels on the right.
    g.font = '11px ui-monospace, monospace';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const p = lo + ((hi - lo) * i) / 4;
      const yy = Math.round(y(p)) + 0.5;
      g.strokeStyle = grid;
      g.beginPath(); g.moveTo(0, yy); g.lineTo(plotW, yy); g.stroke();
      g.fillStyle = label;
      g.fillText(p.toFixed(priceDecimals), plotW + 6, yy);
    }
    // Time labels along the bottom.
    g.textBaseline = 'top';
    g.textAlign = 'center';
    const every = Math.max(1, Math.round(slots / 5));
    for (let i = Math.floor(every / 2); i < slots; i += every) {
      const t = start + i * width;
      g.fillStyle = label;
      g.fillText(timeLabel(t), x(t), h - axisH + 4);
    }
    g.textAlign = 'start';

    const maxVol = Math.max(...shown.map((c) => c.v), 1e-12);
    const body = Math.max(1, Math.floor(slot * 0.65));
    for (const c of shown) {
      const cx = Math.round(x(c.t)) + 0.5;
      const colour = c.c >= c.o ? up : down;
      g.strokeStyle = colour;
      g.fillStyle = colour;
      g.beginPath(); g.moveTo(cx, y(c.h)); g.lineTo(cx, y(c.l)); g.stroke();
      const upper = y(Math.max(c.o, c.c)), lower = y(Math.min(c.o, c.c));
      g.fillRect(cx - body / 2, upper, body, Math.max(2, lower - upper));
      const vh = (c.v / maxVol) * volH;
      g.globalAlpha = 0.35;
      g.fillRect(cx - body / 2, top + plotH + gap + volH - vh, body, vh);
      g.globalAlpha = 1;
    }
  }

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
