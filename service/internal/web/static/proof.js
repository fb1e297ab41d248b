// Proof of liabilities, checked in the browser: the trader's proof (from
// GET /api/v1/proof/mine, or a file or pasted text) is recomputed from the
// leaf up with WebCrypto's SHA-256, exactly as docs/proof-of-liabilities.md
// section 6 says, and its root compared with the one this site publishes.
// Amounts are BigInts: no float ever holds one.
'use strict';

(function () {
  const page = document.getElementById('proof-page');
  if (!page) return;
  const $ = (id) => document.getElementById(id);
  const result = $('verify-result');
  const LIMIT = 1n << 127n;

  // A Fail is a check that did not pass; its message says which.
  class Fail extends Error {}

  const hexOf = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  function unhex(s, what) {
    if (typeof s !== 'string' || !/^[0-9a-f]{64}$/.test(s)) throw new Fail(`${what} is not 64 lower-case hexadecimal digits.`);
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  function amount(s, what) {
    if (typeof s !== 'string' || !/^(0|[1-9][0-9]*)$/.test(s)) throw new Fail(`${what} is not a whole number in the asset's smallest unit.`);
    const v = BigInt(s);
    if (v >= LIMIT) throw new Fail(`${what} is 2^127 or more: a negative amount in disguise, which the format refuses.`);
    return v;
  }
  function amounts(list, n, what) {
    if (!Array.isArray(list) || list.length !== n) throw new Fail(`${what} must hold ${n} amounts, one per asset.`);
    return list.map((s, i) => amount(s, `${what}[${i}]`));
  }
  function uint(v, bytes) {
    const out = new Uint8Array(bytes);
    for (let i = bytes - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }
  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  async function sha256(...parts) {
    if (!window.crypto || !crypto.subtle) {
      throw new Fail('This browser offers no SHA-256 to this page (WebCrypto needs HTTPS); check the downloaded file with exchange verify-proof instead.');
    }
    return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(parts)));
  }
  const sums = (s) => concat(s.map((v) => uint(v, 16)));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // decimal writes units of 10^-precision as the site writes amounts.
  function decimal(units, precision) {
    let s = units.toString();
    if (precision === 0) return s;
    s = s.padStart(precision + 1, '0');
    const frac = s.slice(-precision).replace(/0+$/, '');
    return s.slice(0, -precision) + (frac ? '.' + frac : '');
  }

  // verify follows section 6, steps 1 to 6; it returns what it proved.
  async function verify(p) {
    if (!p || typeof p !== 'object') throw new Fail('This is not a proof: expected a JSON object.');
    if (p.version !== 1) throw new Fail(`This proof is version ${p.version}; this page checks version 1.`);
    const snap = p.snapshot || {};
    const assets = p.assets;
    if (!Array.isArray(assets) || assets.length < 1 || assets.length > 65535) throw new Fail('The proof lists no assets.');
    assets.forEach((a, i) => {
      if (!a || typeof a.symbol !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(a.symbol) || !Number.isInteger(a.precision) || a.precision < 0 || a.precision > 255) {
        throw new Fail(`Asset ${i + 1} has no valid symbol or precision.`);
      }
      if (i > 0 && !(assets[i - 1].symbol < a.symbol)) throw new Fail('The assets are not in ascending symbol order.');
    });
    const n = snap.accounts, leaf = p.leaf || {}, path = p.path;
    if (!Number.isSafeInteger(n) || n < 1) throw new Fail('The snapshot names no accounts.');
    if (!Number.isSafeInteger(leaf.index) || leaf.index < 0 || leaf.index >= n) throw new Fail(`Leaf index ${leaf.index} is not one of the snapshot's ${n} accounts.`);
    let h = 0;
    while (2 ** h < n) h++;
    if (!Array.isArray(path) || path.length !== h) throw new Fail(`The path has ${Array.isArray(path) ? path.length : 0} steps; a tree of ${n} accounts needs ${h}.`);
    if (typeof snap.taken_at !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(snap.taken_at)) throw new Fail('The snapshot time is not a UTC time in whole seconds.');
    const takenAt = BigInt(Date.parse(snap.taken_at) / 1000);
    const root = unhex(snap.root_hash, 'The root hash');
    if (typeof leaf.user_id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(leaf.user_id) || BigInt(leaf.user_id) >= 1n << 63n) throw new Fail('The leaf names no user id.');
    const nonce = unhex(leaf.nonce, 'The nonce');
    const balances = amounts(leaf.balances, assets.length, 'Your balances');
    const totals = amounts(assets.map((a) => a.total), assets.length, 'The totals');

    // Section 3: the leaf.
    const commitment = await sha256(Uint8Array.of(0x03), nonce, uint(BigInt(leaf.user_id), 8));
    let node = { hash: await sha256(Uint8Array.of(0x00), commitment, sums(balances)), sums: balances };
    // Section 4: up the path, the index's bits telling left from right.
    for (let l = 0; l < h; l++) {
      const step = path[l] || {};
      const sib = { hash: unhex(step.hash, `Sibling ${l + 1}'s hash`), sums: amounts(step.sums, assets.length, `Sibling ${l + 1}'s sums`) };
      const [left, right] = Math.floor(leaf.index / 2 ** l) % 2 === 0 ? [node, sib] : [sib, node];
      const added = left.sums.map((v, i) => v + right.sums[i]);
      added.forEach((v, i) => {
        if (v >= LIMIT) throw new Fail(`At level ${l + 1} the ${assets[i].symbol} sum reaches 2^127: a negative amount in disguise, or an overflow.`);
      });
      node = { hash: await sha256(Uint8Array.of(0x01), left.hash, sums(left.sums), right.hash, sums(right.sums)), sums: added };
    }
    node.sums.forEach((v, i) => {
      if (v !== totals[i]) {
        throw new Fail(`The path adds up to ${decimal(v, assets[i].precision)} ${assets[i].symbol}, but the snapshot's total is ${decimal(totals[i], assets[i].precision)} ${assets[i].symbol}: a balance of the leaf or a sum on the path was changed.`);
      }
    });
    // Section 5: the root.
    const enc = new TextEncoder();
    const list = [uint(BigInt(assets.length), 2)];
    for (const a of assets) list.push(Uint8Array.of(a.symbol.length), enc.encode(a.symbol), Uint8Array.of(a.precision));
    const computed = await sha256(Uint8Array.of(0x04), uint(takenAt, 8), uint(BigInt(n), 8), concat(list), node.hash, sums(node.sums));
    if (!same(computed, root)) {
      throw new Fail(`The path leads to root ${hexOf(computed).slice(0, 12)}…, not to the proof's root ${snap.root_hash.slice(0, 12)}…: the leaf, its nonce, a sibling or the snapshot's details were changed.`);
    }
    return { assets, balances, root: snap.root_hash, id: String(snap.id), takenAt: snap.taken_at, accounts: n, user: leaf.user_id };
  }

  // published is the root this site publishes for a snapshot: from the
  // page's list of roots, else from the API.
  async function published(id) {
    const row = document.querySelector(`#snapshots tr[data-id="${CSS.escape(id)}"]`);
    if (row) return row.dataset.root;
    if (!/^[1-9][0-9]{0,18}$/.test(id)) return null;
    const res = await fetch(`/api/v1/proof?limit=1&cursor=${BigInt(id) + 1n}`, { headers: { Accept: 'application/json' } });
    if (!res.ok) return null;
    const body = await res.json();
    const s = body.data && body.data[0];
    return s && s.id === id ? s.root_hash : null;
  }

  function show(ok, text) {
    result.className = 'verify-result flash ' + (ok ? 'notice' : 'error');
    result.textContent = text;
  }

  async function check(p, mine) {
    show(true, 'Checking…');
    try {
      const v = await verify(p);
      const pub = await published(v.id);
      if (pub === null) throw new Fail(`The path is sound, but this site publishes no snapshot ${v.id}: compare the root ${v.root.slice(0, 12)}… with the one you trust.`);
      if (pub !== v.root) throw new Fail(`The path is sound, but it leads to root ${v.root.slice(0, 12)}…, not to the root published for snapshot ${v.id}, ${pub.slice(0, 12)}….`);
      const me = page.dataset.userId;
      if (mine && me && me !== v.user) throw new Fail(`This proof is for user ${v.user}, not for you (user ${me}).`);
      const held = v.assets.map((a, i) => [a, v.balances[i]]).filter(([, b]) => b !== 0n)
        .map(([a, b]) => `${decimal(b, a.precision)} ${a.symbol}`);
      const what = held.length === 1 ? 'balance' : 'balances';
      const list = held.length > 1 ? held.slice(0, -1).join(', ') + ' and ' + held[held.length - 1] : held.join('');
      const whose = mine ? `Your ${what} of ${list}` : `The ${what} of user ${v.user}, ${list},`;
      show(true, `${whose} ${held.length === 1 ? 'is' : 'are'} included in root ${v.root.slice(0, 12)}… (snapshot ${v.id}, taken ${v.takenAt.replace('T', ' ').replace('Z', ' UTC')}, ${v.accounts} accounts).`);
    } catch (e) {
      show(false, e instanceof Fail ? 'Not verified. ' + e.message : 'Not verified: ' + e.message);
    }
  }

  const mineButton = $('verify-mine');
  if (mineButton) {
    mineButton.addEventListener('click', async () => {
      mineButton.disabled = true;
      try {
        const res = await fetch('/api/v1/proof/mine', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
        const body = await res.json().catch(() => null);
        if (!res.ok) {
          show(false, 'No proof to check: ' + (body && body.error ? body.error.message : `the server answered ${res.status}.`));
          return;
        }
        await check(body, true);
      } catch (e) {
        show(false, 'Your proof could not be fetched: ' + e.message);
      } finally {
        mineButton.disabled = false;
      }
    });
  }

  $('verify-text').addEventListener('click', () => {
    let p;
    try {
      p = JSON.parse($('proof-text').value);
    } catch (e) {
      show(false, 'Not verified. This is not JSON: ' + e.message);
      return;
    }
    check(p, false);
  });
  $('proof-file').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    $('proof-text').value = await file.text();
    $('verify-text').click();
  });
})();
