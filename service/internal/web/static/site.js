// What every page shares. Times: the server writes them in UTC, in a
// <time> element; here they are shown in the reader's own zone, and the
// UTC time stays in the title, for a hover. And the small DOM helpers the
// live pages build their table rows with.
'use strict';

window.Site = (function () {
  const pad = (n) => String(n).padStart(2, '0');

  // localText: "2024-05-01 14:03:09" in the browser's zone; kind "clock"
  // is the time of day alone, "minute" drops the seconds.
  function localText(d, kind) {
    const day = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
    const hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (kind === 'clock') return hm + ':' + pad(d.getSeconds());
    if (kind === 'minute') return day + ' ' + hm;
    if (kind === 'day') return day;
    return day + ' ' + hm + ':' + pad(d.getSeconds());
  }
  const utcText = (d) => d.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';

  function localize(el) {
    const d = new Date(el.dateTime);
    if (isNaN(d.getTime())) return;
    el.textContent = localText(d, el.dataset.kind);
    el.title = utcText(d);
  }

  // time makes a <time> for an ISO time the API sent.
  function time(iso, kind) {
    const el = document.createElement('time');
    el.dateTime = iso;
    if (kind) el.dataset.kind = kind;
    localize(el);
    return el;
  }

  // zone names the reader's zone and its offset: "Europe/Paris, UTC+02:00".
  function zone() {
    const off = -new Date().getTimezoneOffset();
    const sign = off < 0 ? '-' : '+';
    const text = 'UTC' + sign + pad(Math.floor(Math.abs(off) / 60)) + ':' + pad(Math.abs(off) % 60);
    let name = '';
    try { name = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* an old browser: the offset says enough */ }
    return name && !/^(Etc\/)?UTC$/.test(name) ? name + ', ' + text : text;
  }

  function cell(content, cls) {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
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
  function hidden(name, value) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    return input;
  }

  // getJSON reads an API resource with the session cookie; null when it
  // cannot (offline, refused): the caller keeps what it shows.
  async function getJSON(url) {
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      return res.ok ? await res.json() : null;
    } catch (e) {
      return null;
    }
  }

  // orderLabel is an order's status as the server's tables write it
  // (web/vocab.go's statusLabel), from the words the page carries in
  // data-words: "cancelled · self-trade prevention".
  function orderLabel(words, o) {
    const s = words.status[o.status] || o.status.replace(/_/g, ' ');
    const r = o.status === 'cancelled' && words.reasons[o.cancel_reason];
    return r ? s + ' \u00b7 ' + r.short : s;
  }
  const OPEN_STATUSES = new Set(['open', 'partially_filled']);
  const isOpenOrder = (o) => OPEN_STATUSES.has(o.status);

  // keyed holds a live list's items by id (orders, deposits,
  // withdrawals) from two sources: REST snapshots and the socket's
  // updates. A snapshot may be older than an update that arrived while it
  // was being read, so an item the socket updated since the snapshot was
  // asked for (begin) keeps that update, unless the snapshot's state is
  // newer; every other item is the snapshot's.
  function keyed() {
    const items = new Map(), touched = new Map();
    let clock = 0;
    const newer = (a, b) => Date.parse(a.updated_at) > Date.parse(b.updated_at);
    return {
      items,
      // update applies the socket's state of an item; it returns the
      // state it replaced (undefined for a new item), or false for an
      // older state that arrived late.
      update(o) {
        const prev = items.get(o.id);
        if (prev && newer(prev, o)) return false;
        items.set(o.id, o);
        touched.set(o.id, ++clock);
        return prev;
      },
      begin: () => clock,
      snapshot(list, since) {
        const fresh = new Map(list.map((o) => [o.id, o]));
        for (const [id, o] of items) {
          if ((touched.get(id) || 0) > since && (!fresh.has(id) || newer(o, fresh.get(id)))) fresh.set(id, o);
        }
        items.clear();
        for (const [id, o] of fresh) items.set(id, o);
      },
    };
  }

  // On a phone the menu is one line that scrolls sideways: show the
  // current page's entry rather than leave it past the edge.
  const current = document.querySelector('.top nav [aria-current="page"]');
  if (current) {
    const nav = current.parentElement;
    if (nav.scrollWidth > nav.clientWidth) {
      const off = current.getBoundingClientRect().left - nav.getBoundingClientRect().left;
      nav.scrollLeft += off - (nav.clientWidth - current.offsetWidth) / 2;
    }
  }

  // A table wider than its box scrolls inside it: such a box must be
  // reachable from the keyboard (focusable, named after the heading
  // above it) to be scrolled with the arrow keys; one that fits is not a
  // tab stop. Checked again whenever a table or its box changes size
  // (live rows, a turned phone).
  function scrollable(wrap) {
    const wide = wrap.scrollWidth > wrap.clientWidth + 1;
    if (wide === wrap.hasAttribute('tabindex')) return;
    if (!wide) {
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
      return;
    }
    let heading = null;
    for (let e = wrap.previousElementSibling; e && !heading; e = e.previousElementSibling) {
      heading = /^H[1-4]$/.test(e.tagName) ? e : e.querySelector('h2, h3');
    }
    heading = heading || (wrap.closest('section') || document).querySelector('h2, h3, h1');
    wrap.tabIndex = 0;
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-label', (heading ? heading.textContent.trim() + ': ' : '') + 'table, scrolls sideways');
  }
  const wraps = document.querySelectorAll('.table-wrap');
  for (const w of wraps) scrollable(w);
  if (wraps.length && window.ResizeObserver) {
    const watch = new ResizeObserver((entries) => {
      for (const e of entries) scrollable(e.target.closest('.table-wrap'));
    });
    for (const w of wraps) {
      watch.observe(w);
      if (w.firstElementChild) watch.observe(w.firstElementChild);
    }
  }

  for (const el of document.querySelectorAll('time[datetime]')) localize(el);
  const note = document.getElementById('zone-note');
  if (note) note.textContent = 'times in your zone (' + zone() + '); hover a time for UTC';

  return { localText, utcText, time, zone, cell, emptyRow, hidden, getJSON, keyed, orderLabel, isOpenOrder };
})();
