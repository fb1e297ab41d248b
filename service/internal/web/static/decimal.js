// Exact decimals for the pages' scripts. Amounts arrive as the decimal
// strings the server sends and are turned into BigInt counts of 10^-8
// units, the server's own scale, so previews and formatting never pass a
// value through a binary float. Window.Dec is what the other scripts use.
'use strict';

window.Dec = (function () {
  const SCALE = 8;
  const ONE = 100000000n;
  const plain = /^\d{1,11}(\.\d{1,8})?$/;

  // parse reads a plain non-negative decimal ("12", "0.015") into units;
  // null for anything else, including more than 8 decimals.
  function parse(s) {
    if (typeof s !== 'string' || !plain.test(s)) return null;
    const [i, f = ''] = s.split('.');
    return BigInt(i) * ONE + BigInt((f + '00000000').slice(0, SCALE));
  }

  // typed reads a form field as the server's forms do (web/decimal.go):
  // spaces around it dropped, commas or spaces only between groups of
  // three digits. It returns the plain decimal string, '' for an empty
  // field, or null for what the server would refuse.
  function typed(raw) {
    const s = String(raw).trim();
    if (s === '') return '';
    const [whole, frac] = s.split(/\.(.*)/s);
    if (frac !== undefined && /[,\s]/.test(frac)) return null;
    // A comma, or a space as some locales group digits; never a tab or a line break.
    if (/[^\S \u00a0\u202f\u2009]/.test(whole)) return null;
    const seps = whole.match(/[, \u00a0\u202f\u2009]/g);
    if (!seps) return s;
    if (seps.some((c) => c !== seps[0])) return null;
    const groups = whole.split(seps[0]);
    const ok = groups.every((g, i) => /^\d+$/.test(g) && g.length <= 3 && (i === 0 || g.length === 3));
    if (!ok) return null;
    return groups.join('') + (frac !== undefined ? '.' + frac : '');
  }

  // units of a typed field, or null.
  function fromTyped(raw) {
    const s = typed(raw);
    return s ? parse(s) : null;
  }

  const mul = (a, b) => (a * b) / ONE; // floor, for non-negative values
  const div = (a, b) => (b === 0n ? 0n : (a * ONE) / b); // floor
  const floorTo = (a, step) => (step > 0n ? (a / step) * step : a);
  // step of n decimals, in units: 2 -> 0.01
  const step = (decimals) => 10n ** BigInt(SCALE - Math.max(0, Math.min(SCALE, decimals)));

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  // format writes units with exactly `decimals` decimals (truncated) and
  // commas between thousands; without decimals, the shortest exact form.
  function format(v, decimals) {
    const neg = v < 0n;
    const s = (neg ? -v : v).toString().padStart(SCALE + 1, '0');
    const whole = group(s.slice(0, -SCALE));
    let frac = s.slice(-SCALE);
    frac = decimals === undefined ? frac.replace(/0+$/, '') : frac.slice(0, Math.max(0, decimals));
    return (neg ? '-' : '') + whole + (frac ? '.' + frac : '');
  }

  // plainText is format without grouping: what a form field is given.
  const plainText = (v) => format(v).replace(/,/g, '');

  // grouped puts commas into a decimal string the server sent, exactly.
  function grouped(s) {
    if (typeof s !== 'string' || !/^-?\d+(\.\d+)?$/.test(s)) return s;
    const neg = s.startsWith('-');
    const [i, f] = (neg ? s.slice(1) : s).split('.');
    return (neg ? '-' : '') + group(i) + (f !== undefined ? '.' + f : '');
  }

  // fixed writes a decimal string the server sent as the pages' columns
  // show it (web/figures.go): commas between thousands and at least
  // `decimals` decimals, padded with zeros; never a digit dropped. A dash
  // for no value.
  function fixed(s, decimals) {
    if (typeof s !== 'string' || !/^-?\d+(\.\d+)?$/.test(s)) return '\u2014';
    const [w, f = ''] = grouped(s).split('.');
    const frac = f.padEnd(decimals || 0, '0');
    return frac ? w + '.' + frac : w;
  }
  // fixedUnits is fixed for units.
  const fixedUnits = (v, decimals) => fixed(plainText(v), decimals);
  const ceilTo = (a, step) => (step > 0n ? ((a + step - 1n) / step) * step : a);

  return { ONE, parse, typed, fromTyped, mul, div, floorTo, ceilTo, step, format, plainText, grouped, fixed, fixedUnits };
})();
