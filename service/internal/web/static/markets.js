// Rows of markets with their tickers: the market list (/), live from the
// ticker channels, and the market page's switcher, which the market
// page's script keeps live the same way. Prices are shown to each
// market's tick and volumes to its lot (data-figures).
'use strict';

window.ExchangeMarkets = (function () {
  const D = window.Dec;

  // change is the 24 h change of the last price. A JS number is fine
  // here: a display ratio rounded to two decimals, never an amount.
  function change(t) {
    if (!t.last || !t.open_24h || Number(t.open_24h) === 0) return { text: '\u2014', cls: '' };
    const pct = ((Number(t.last) - Number(t.open_24h)) / Number(t.open_24h)) * 100;
    return { text: (pct >= 0 ? '+' : '') + pct.toFixed(2) + '%', cls: pct > 0 ? 'up' : pct < 0 ? 'down' : '' };
  }

  // renderRow writes a ticker into a row of the "marketrow" template.
  function renderRow(tr, t, fig) {
    const put = (field, text) => {
      const el = tr.querySelector('[data-field="' + field + '"]');
      if (el) el.textContent = text;
      return el;
    };
    put('last', D.fixed(t.last, fig.price));
    put('high', D.fixed(t.high_24h, fig.price));
    put('low', D.fixed(t.low_24h, fig.price));
    put('volume', D.fixed(t.volume_24h, fig.amount));
    const c = change(t);
    const el = put('change', c.text);
    if (el) el.className = 'num ' + c.cls;
  }

  // tickerChannels are the ticker channels of a table's markets, at most
  // max of them (a socket takes 20 channels).
  function tickerChannels(table, max) {
    return [...table.querySelectorAll('tr[data-market]')].slice(0, max).map((tr) => 'ticker:' + tr.dataset.market);
  }

  // follow keeps a table's rows current from ticker messages (and REST
  // answers), never going back to an older ticker than a row shows.
  function follow(table, figures) {
    const shown = new Map(); // market -> time of the ticker shown
    return (m) => {
      if (m.type !== 'ticker') return false;
      const t = m.data, at = Date.parse(t.time);
      const tr = table.querySelector('tr[data-market="' + CSS.escape(t.market) + '"]');
      if (!tr || at < (shown.get(t.market) || 0)) return true;
      shown.set(t.market, at);
      renderRow(tr, t, figures.markets[t.market]);
      return true;
    };
  }

  // The market list page.
  const list = document.getElementById('markets');
  if (list) {
    const figures = JSON.parse(list.dataset.figures);
    const onTicker = follow(list, figures);
    const channels = tickerChannels(list, 20);
    if (channels.length) {
      window.ExchangeLive(channels, {
        onMessage: onTicker,
        // A ticker subscription starts with the current ticker: the
        // subscription is the fresh snapshot.
      });
      // The 24 h figures slide on the server as time passes, with no
      // message while a market is quiet: read them now and then.
      window.setInterval(async () => {
        for (const ch of channels) {
          const t = await window.Site.getJSON('/api/v1/markets/' + encodeURIComponent(ch.slice(7)) + '/ticker');
          if (t) onTicker({ type: 'ticker', data: t });
        }
      }, 30000);
    }
  }

  return { change, renderRow, tickerChannels, follow };
})();
