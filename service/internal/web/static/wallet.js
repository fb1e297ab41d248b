// The wallet page, live: the balances channel brings each asset's
// balances after a change, and each deposit's and withdrawal's new state
// as the admins decide it (an approval by the first of two admins, then
// the decision), so a withdrawal never shows as pending once decided.
// After every (re)subscription all three lists are read again over REST.
'use strict';

(function () {
  const root = document.getElementById('wallet');
  if (!root) return;
  const D = window.Dec, S = window.Site;
  const $ = (id) => document.getElementById(id);
  const figures = JSON.parse(root.dataset.figures);
  const WORDS = JSON.parse(root.dataset.words);
  const HISTORY = 20;
  const lists = { deposit: S.keyed(), withdrawal: S.keyed() }; // by id
  let pushes = 0; // balances messages received: a REST answer older than one is dropped
  const bodies = { deposit: $('deposits').tBodies[0], withdrawal: $('withdrawals').tBodies[0] };
  const empty = { deposit: 'No deposits yet', withdrawal: 'No withdrawals yet' };
  let fresh = new Set(); // kind:id changed since the last drawing, to flash
  const amount = (asset, v) => D.fixed(v, figures.assets[asset] || 0);

  function renderBalances(list) {
    const body = $('balances').tBodies[0];
    for (const b of list) {
      let tr = body.querySelector('tr[data-asset="' + CSS.escape(b.asset) + '"]');
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.asset = b.asset;
        const th = document.createElement('th');
        th.scope = 'row';
        th.textContent = b.asset;
        tr.append(th, S.cell('', 'num available'), S.cell('', 'num held'));
        body.append(tr);
      }
      tr.querySelector('.available').textContent = amount(b.asset, b.available);
      tr.querySelector('.held').textContent = amount(b.asset, b.held);
    }
  }

  // label is a transfer's status in the site's words (web/vocab.go).
  function label(kind, t) {
    const word = WORDS[kind][t.status] || t.status;
    return t.status === 'pending' && t.approved_once ? word + ' \u00b7 ' + WORDS.approved_once : word;
  }

  // cancelForm is the pending withdrawal's Cancel button: a plain form,
  // as the server draws it, answered with the page and a notice.
  function cancelForm(t) {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/wallet/withdrawals/' + encodeURIComponent(t.id) + '/cancel';
    form.className = 'inline';
    const token = document.createElement('input');
    token.type = 'hidden';
    token.name = 'csrf_token';
    token.value = root.dataset.csrf;
    const button = document.createElement('button');
    button.type = 'submit';
    button.className = 'small';
    button.textContent = WORDS.cancel;
    button.setAttribute('aria-label', WORDS.cancel + ' withdrawal ' + t.id + ' of ' + amount(t.asset, t.amount) + ' ' + t.asset);
    form.append(token, button);
    return form;
  }

  function row(kind, t) {
    const tr = document.createElement('tr');
    tr.dataset.id = t.id;
    if (fresh.has(kind + ':' + t.id)) tr.className = 'new';
    const status = document.createElement('span');
    status.className = 'status ' + t.status;
    status.textContent = label(kind, t);
    const td = S.cell(status);
    if (t.reason) {
      const why = document.createElement('span');
      why.className = 'muted';
      why.textContent = '(' + t.reason + ')';
      td.append(' ', why);
    }
    if (kind === 'withdrawal' && t.status === 'pending') td.append(' ', cancelForm(t));
    tr.append(S.cell(S.time(t.created_at)), S.cell(t.asset), S.cell(amount(t.asset, t.amount), 'num'), td);
    return tr;
  }

  function render(kind) {
    const list = [...lists[kind].items.values()].sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1)).slice(0, HISTORY);
    const rows = list.map((t) => row(kind, t));
    bodies[kind].replaceChildren(...(rows.length ? rows : [S.emptyRow(4, empty[kind])]));
    fresh = new Set([...fresh].filter((k) => !k.startsWith(kind + ':')));
  }

  function upsert(kind, t) {
    if (lists[kind].update(t) === false) return; // an older state arrived late
    fresh.add(kind + ':' + t.id);
    render(kind);
  }

  async function refresh() {
    const pushed = pushes, since = { deposit: lists.deposit.begin(), withdrawal: lists.withdrawal.begin() };
    const [balances, deposits, withdrawals] = await Promise.all([S.getJSON('/api/v1/balances'),
      S.getJSON('/api/v1/deposits?limit=' + HISTORY), S.getJSON('/api/v1/withdrawals?limit=' + HISTORY)]);
    // A balances message holds every asset's balance: one that came while
    // this was read is at least as new.
    if (balances && pushes === pushed) renderBalances(balances);
    for (const [kind, page] of [['deposit', deposits], ['withdrawal', withdrawals]]) {
      if (!page) continue;
      lists[kind].snapshot(page.data, since[kind]);
      render(kind);
    }
  }

  window.ExchangeLive(['balances'], {
    onSync: refresh,
    onMessage(m) {
      if (m.type === 'balances') {
        pushes++;
        renderBalances(m.data);
      }
      if (m.type === 'deposit' || m.type === 'withdrawal') upsert(m.type, m.data);
    },
  });
})();
