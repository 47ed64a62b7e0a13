// The Photon node's dashboard: one page, five views, live from the node's event stream.
// Everything it shows comes from the node's REST API (/api/v1); with an API token set, every
// request carries it (`Authorization: Bearer`), kept for this browser tab only. Text from the
// node or its peers is only ever put into the page as text, never as markup.

'use strict';

const TOKEN_KEY = 'photon-api-token';
const PAGE_SIZE = 20;

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function call(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(`The node does not answer (${e.message}).`, 0, 'unreachable');
  }
  const text = await res.text();
  let json = null;
  try {
    // a payment id beyond 2^53 (another payer's) is kept exact, as its digits
    json = text ? JSON.parse(text, (key, value, context) => (key === 'payment_id' && typeof value === 'number'
      && !Number.isSafeInteger(value) && context && context.source ? context.source : value)) : null;
  } catch {
    json = null;
  }
  if (res.status === 401) {
    showLogin();
    throw new ApiError('The node needs its API token.', 401, 'unauthorized');
  }
  if (!res.ok) {
    const message = json && json.error && json.error.message;
    throw new ApiError(message || `The node answered ${res.status}.`, res.status, json && json.error && json.error.code);
  }
  return json;
}

const get = (path) => call('GET', path);

// ---------------------------------------------------------------------------------------------
// Page building: elements with text, never markup

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const svg = (tag, attrs, ...children) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
};

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint && h('small', { id: hintId }, hint));
}

function errorBox() {
  return h('p', { class: 'error', role: 'alert', hidden: true });
}

function showError(box, error) {
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

function notice(message) {
  const box = document.getElementById('notice');
  box.textContent = message || '';
  box.hidden = !message;
}

const short = (address) => (address ? `${address.slice(0, 8)}…${address.slice(-4)}` : '—');

function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

// ---------------------------------------------------------------------------------------------
// Amounts: raw smallest units on the API, the token's display unit on the page

const tokens = new Map(); // address (lowercase) -> { address, symbol, decimals, channels }

function tokenOf(address) {
  return tokens.get(String(address).toLowerCase()) || { address, symbol: null, decimals: null };
}

function tokenName(address) {
  const t = tokenOf(address);
  return t.symbol || short(address);
}

function formatAmount(raw, token) {
  const t = tokenOf(token);
  let value = BigInt(raw || '0');
  const decimals = t.decimals;
  let text;
  if (decimals == null || decimals === 0) {
    text = value.toString();
  } else {
    const unit = 10n ** BigInt(decimals);
    const whole = value / unit;
    let fraction = (value % unit).toString().padStart(decimals, '0').replace(/0+$/, '');
    text = fraction ? `${whole}.${fraction}` : whole.toString();
  }
  return t.symbol ? `${text} ${t.symbol}` : decimals == null ? `${text} units` : text;
}

// A display amount ("12.5") in smallest units, or an error in words.
function parseAmount(text, token) {
  const t = tokenOf(token);
  const decimals = t.decimals || 0;
  const trimmed = String(text).trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(trimmed);
  if (!match) throw new Error(`“${trimmed}” is not an amount: write digits, with a point for fractions (e.g. 12.5).`);
  const fraction = match[2] || '';
  if (fraction.length > decimals) {
    throw new Error(decimals === 0
      ? `${tokenName(token)} has no fractions: write a whole number.`
      : `${tokenName(token)} has ${decimals} decimals: “${trimmed}” is finer than that.`);
  }
  const raw = BigInt(match[1]) * 10n ** BigInt(decimals) + BigInt((fraction || '0').padEnd(decimals, '0') || '0');
  if (raw >= 2n ** 128n) throw new Error('That amount is more than any token holds.');
  return raw.toString();
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function checkAddress(text, what) {
  const trimmed = String(text).trim();
  if (!ADDRESS.test(trimmed)) throw new Error(`The ${what} must be an address: 0x and 40 hex digits.`);
  return trimmed;
}

// A payment id the page chooses: exact in JavaScript numbers, as the node's own are.
function newPaymentId() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0] % 0x200000) * 0x100000000 + words[1];
}

function hexOf(text) {
  return `0x${Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function textOfData(hex) {
  if (!hex) return '';
  const bytes = new Uint8Array((hex.slice(2).match(/../g) || []).map((b) => parseInt(b, 16)));
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // control and direction-changing characters could disguise the text: shown as hex
    return /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(text) ? hex : text;
  } catch {
    return hex;
  }
}

// ---------------------------------------------------------------------------------------------
// What the page knows, refreshed from the API and the event stream

const known = { status: null, channels: [], network: [] };
const refreshers = new Map(); // name -> function, for the current view
const pending = new Map(); // name -> timer

function schedule(name) {
  const refresh = refreshers.get(name);
  if (!refresh || pending.has(name)) return;
  pending.set(name, setTimeout(() => {
    pending.delete(name);
    refresh().catch((e) => notice(e.message));
  }, 150));
}

async function loadTokens() {
  for (const t of await get('/tokens')) tokens.set(t.address.toLowerCase(), t);
}

async function loadStatus() {
  known.status = await get('/status');
  renderHealth();
  return known.status;
}

function renderHealth() {
  const s = known.status;
  const el = document.getElementById('health');
  if (!s) return;
  let state = 'ok';
  let text = `block ${s.block}`;
  if (!s.chain_reachable) {
    state = 'bad';
    text = 'chain unreachable';
  } else if (s.syncing) {
    state = 'warn';
    text = `syncing ${s.block}/${s.chain_head}`;
  }
  el.className = `health ${state}${live ? '' : ' offline'}`;
  el.textContent = `${text} · ${s.peers} peer${s.peers === 1 ? '' : 's'}${live ? '' : ' · not live'}`;
}

let live = false;
let listening = false;

async function listen() {
  if (listening) return;
  listening = true;
  for (;;) {
    try {
      const res = await fetch('/api/v1/events', { headers: authHeaders() });
      if (res.status === 401) {
        listening = false;
        showLogin();
        return;
      }
      if (!res.ok || !res.body) throw new Error(`events answered ${res.status}`);
      live = true;
      renderHealth();
      // what happened while the stream was away: read again
      for (const name of refreshers.keys()) schedule(name);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = chunk.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (data) {
            try {
              onEvent(JSON.parse(data));
            } catch (e) {
              console.warn('an event the page does not read', e);
            }
          }
        }
      }
    } catch (e) {
      console.warn('event stream', e);
    }
    live = false;
    renderHealth();
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onEvent(event) {
  switch (event.type) {
    case 'block':
      if (known.status) {
        known.status.block = event.number;
        renderHealth();
      }
      schedule('block');
      break;
    case 'channel_changed':
      schedule('channels');
      schedule('status');
      break;
    case 'payment_received':
    case 'payment_sent':
    case 'payment_failed':
    case 'payment_disputed':
      schedule('channels');
      schedule('payments');
      schedule('payment');
      break;
    case 'swap_changed':
      schedule('swaps');
      schedule('channels');
      break;
    default:
      schedule('status');
  }
}

// ---------------------------------------------------------------------------------------------
// Confirmation: every action that moves money or changes a channel asks first

// One confirmation at a time: a second ask while one is open (or about to open) is ignored.
let confirming = false;

function confirmAction(title, body, action) {
  if (confirming) return Promise.resolve(undefined);
  confirming = true;
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-body').replaceChildren(body);
  const error = document.getElementById('confirm-error');
  error.hidden = true;
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  return new Promise((resolve) => {
    let busy = false;
    const done = (result) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      ok.disabled = false;
      cancel.disabled = false;
      confirming = false;
      if (dialog.open) dialog.close();
      resolve(result);
    };
    // Enter in a field submits the form: that is Confirm, the form's only submit button
    const onOk = async (e) => {
      e.preventDefault();
      if (busy) return; // a double click does one thing
      busy = true;
      ok.disabled = true;
      cancel.disabled = true; // the request is out: its answer is shown, not dropped
      try {
        done(await action());
      } catch (err) {
        showError(error, err);
        ok.disabled = false;
        cancel.disabled = false;
      } finally {
        busy = false;
      }
    };
    const onCancel = () => { if (!busy) done(undefined); };
    const onEscape = (e) => { e.preventDefault(); onCancel(); };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onEscape);
    dialog.showModal();
    const first = dialog.querySelector('#confirm-body input');
    (first || ok).focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Views

const main = () => document.getElementById('main');

function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

function tokenSelect(id, onlyWithChannels) {
  const select = h('select', { id, required: true });
  const list = [...tokens.values()].filter((t) => !onlyWithChannels || t.channels > 0);
  for (const t of list) select.append(h('option', { value: t.address }, t.symbol ? `${t.symbol} (${short(t.address)})` : t.address));
  if (!list.length) select.append(h('option', { value: '' }, 'no token yet'));
  return select;
}

// Overview: who we are, whether we are in sync, what we can send and receive.
async function overview(root) {
  const facts = h('dl', { class: 'facts' });
  const totals = h('tbody');
  const txs = h('tbody');
  root.append(
    h('h2', {}, 'Overview'),
    section('Node', facts),
    section('Per token', h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr-only' }, 'What the node can send and receive, per token'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Token'), h('th', { scope: 'col' }, 'Channels'), h('th', { scope: 'col' }, 'Can send'), h('th', { scope: 'col' }, 'Can receive'))),
      totals))),
    section('Latest transactions', h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Call'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Hash'))),
      txs))),
  );
  const refresh = async () => {
    const [s, channels, journal] = await Promise.all([loadStatus(), get('/channels'), get('/transactions')]);
    await loadTokens();
    known.channels = channels;
    const sync = !s.chain_reachable ? 'chain unreachable' : s.syncing ? `catching up (${s.block} of ${s.chain_head})` : 'in sync';
    facts.replaceChildren(...[
      ['Address', h('code', {}, s.address)],
      ['Chain', `id ${s.chain_id}, block ${s.block} (head ${s.chain_head}), ${sync}`],
      ['Peers connected', s.peers],
      ['Channels', s.channels],
      ['Payments in flight', s.pending_transfers],
      ['Version', s.version],
    ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const per = new Map();
    for (const c of channels) {
      const key = c.token.toLowerCase();
      const row = per.get(key) || { token: c.token, count: 0, send: 0n, receive: 0n };
      row.count += 1;
      if (c.state === 'open') {
        row.send += BigInt(c.balance) - BigInt(c.locked);
        row.receive += BigInt(c.partner_balance) - BigInt(c.partner_locked);
      }
      per.set(key, row);
    }
    totals.replaceChildren(...[...per.values()].map((r) => h('tr', {},
      h('th', { scope: 'row' }, tokenName(r.token)), h('td', {}, r.count),
      h('td', {}, formatAmount(r.send.toString(), r.token)), h('td', {}, formatAmount(r.receive.toString(), r.token)))));
    if (!per.size) totals.append(h('tr', {}, h('td', { colspan: 4 }, 'No channel yet: open one on the Channels page.')));
    const latest = [...journal].sort((a, b) => b.id - a.id).slice(0, 5);
    txs.replaceChildren(...latest.map((t) => h('tr', {}, h('td', {}, when(t.at)), h('td', {}, t.call),
      h('td', {}, t.error ? `${t.state}: ${t.error}` : t.state), h('td', {}, t.hash ? h('code', { title: t.hash }, short(t.hash)) : '—'))));
    if (!latest.length) txs.append(h('tr', {}, h('td', { colspan: 4 }, 'None yet.')));
  };
  refreshers.set('status', refresh);
  refreshers.set('channels', refresh);
  refreshers.set('block', refresh);
  await refresh();
}

// Channels: each with its balances, and what can be done with it.
async function channelsView(root) {
  const list = h('div', { class: 'channels', 'aria-live': 'polite' });
  const result = h('p', { class: 'result', role: 'status' });
  const token = tokenSelect('open-token', false);
  const partner = h('input', { id: 'open-partner', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: '0x…' });
  const deposit = h('input', { id: 'open-deposit', inputmode: 'decimal', autocomplete: 'off', placeholder: '0' });
  const timeout = h('input', { id: 'open-timeout', inputmode: 'numeric', autocomplete: 'off', placeholder: 'the node’s default' });
  const openError = errorBox();
  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      openError.hidden = true;
      let body;
      try {
        body = { token: token.value, partner: checkAddress(partner.value, 'partner') };
        if (deposit.value.trim()) body.deposit = parseAmount(deposit.value, token.value);
        if (timeout.value.trim()) {
          if (!/^\d+$/.test(timeout.value.trim())) throw new Error('The settle timeout is a number of blocks.');
          body.settle_timeout = Number(timeout.value.trim());
        }
      } catch (err) {
        showError(openError, err);
        return;
      }
      const what = h('p', {}, `Open a channel in ${tokenName(body.token)} with ${body.partner}`,
        body.deposit ? `, depositing ${formatAmount(body.deposit, body.token)}` : '', '?');
      const answer = await confirmAction('Open a channel', what, () => call('PUT', '/channels', body));
      if (answer) {
        result.replaceChildren('Channel opened. Transaction ', h('code', {}, answer.transaction_hash || '—'));
        form.reset();
        await loadTokens();
        schedule('channels');
      }
    },
  },
  h('h3', {}, 'Open a channel'),
  field('Token', token),
  field('Partner', partner, 'Its address'),
  field('Deposit', deposit, 'Optional, in the token’s unit'),
  field('Settle timeout', timeout, 'Optional, in blocks'),
  openError,
  h('button', { type: 'submit' }, 'Open…'));
  root.append(h('h2', {}, 'Channels'), result, list, form);

  // The transaction an action made (its journal entry: `calls` names the contract call),
  // followed until it is sent.
  const newestTransaction = async () => Math.max(0, ...(await get('/transactions')).map((t) => t.id));
  async function follow(since, title, calls) {
    for (let i = 0; i < 40; i += 1) {
      const made = (await get('/transactions'))
        .filter((t) => t.id > since && calls.includes(t.call))
        .sort((a, b) => a.id - b.id);
      if (made.length) {
        result.replaceChildren(`${title}: `, ...made.map((t) => h('span', { class: 'tx' }, `${t.call} ${t.state}`,
          t.hash ? [', transaction ', h('code', {}, t.hash)] : '', t.error ? ` (${t.error})` : '', '. ')));
        if (made.every((t) => t.hash || t.error)) return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const act = async (c, title, body, request, calls, done) => {
    const since = await newestTransaction();
    const answer = await confirmAction(title, body, () => call('PATCH', `/channels/${c.token}/${c.partner}`, request));
    if (!answer) return;
    result.replaceChildren(...done(answer));
    schedule('channels');
    await follow(since, title, calls);
  };
  const amountAction = async (c, title, key, verb) => {
    const input = h('input', { inputmode: 'decimal', autocomplete: 'off', required: true });
    const body = h('div', {}, h('p', {}, `${verb} in the channel with ${c.partner}.`), field(`Amount (${tokenName(c.token)})`, input));
    const run = () => {
      const raw = parseAmount(input.value, c.token);
      if (raw === '0') throw new Error('The amount must be more than zero.');
      return call('PATCH', `/channels/${c.token}/${c.partner}`, { [key]: raw });
    };
    const since = await newestTransaction();
    const answer = await confirmAction(title, body, run);
    if (!answer) return;
    result.replaceChildren(answer.transaction_hash
      ? h('span', {}, `${title}: transaction `, h('code', {}, answer.transaction_hash))
      : `${title}: the node took the request; the partner co-signs, then the transaction goes out.`);
    schedule('channels');
    if (!answer.transaction_hash) await follow(since, title, ['Withdraw']);
  };
  const guarded = (run) => () => run().catch((e) => notice(e.message));

  const refresh = async () => {
    const channels = await get('/channels');
    known.channels = channels;
    // a channel in a token the page has not seen (a partner opened it): learn its unit first
    if (channels.some((c) => !tokens.has(c.token.toLowerCase()))) await loadTokens();
    list.replaceChildren(...channels.map((c) => {
      const ours = BigInt(c.balance);
      const theirs = BigInt(c.partner_balance);
      const total = ours + theirs;
      const share = total > 0n ? Number((ours * 1000n) / total) / 10 : 50;
      const open = c.state === 'open';
      const label = `${tokenName(c.token)} with ${short(c.partner)}`;
      // sized through the style object: the page's policy refuses style attributes
      const oursBar = h('span', { class: 'ours' });
      oursBar.style.width = `${share}%`;
      return h('article', { class: 'card channel', 'data-partner': c.partner.toLowerCase(), 'aria-label': label },
        h('header', {}, h('h3', {}, tokenName(c.token), ' with ', h('code', { title: c.partner }, short(c.partner))),
          h('span', { class: `state ${c.state}` }, c.state)),
        h('div', { class: 'bar', role: 'img', 'aria-label': `You hold ${share}% of the channel` },
          oursBar, h('span', { class: 'theirs' })),
        h('dl', { class: 'balances' },
          h('dt', {}, 'You'), h('dd', { class: 'our-balance' }, formatAmount(c.balance, c.token), BigInt(c.locked) > 0n ? ` (locked ${formatAmount(c.locked, c.token)})` : ''),
          h('dt', {}, 'Partner'), h('dd', { class: 'partner-balance' }, formatAmount(c.partner_balance, c.token), BigInt(c.partner_locked) > 0n ? ` (locked ${formatAmount(c.partner_locked, c.token)})` : ''),
          h('dt', {}, 'Settle timeout'), h('dd', {}, `${c.settle_timeout} blocks`),
          c.closed_block != null && [h('dt', {}, 'Closed at'), h('dd', {}, `block ${c.closed_block}`)],
          c.settle_block != null && [h('dt', {}, 'Settles from'), h('dd', {}, `block ${c.settle_block}`)]),
        c.attention && h('p', { class: 'error' }, c.attention),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', disabled: !open, onclick: guarded(() => amountAction(c, 'Deposit', 'deposit', 'Deposit more')) }, 'Deposit…'),
          h('button', { type: 'button', disabled: !open, onclick: guarded(() => amountAction(c, 'Withdraw', 'withdraw', 'Withdraw')) }, 'Withdraw…'),
          h('button', {
            type: 'button', class: 'secondary', disabled: !open,
            onclick: guarded(() => act(c, 'Settle cooperatively', h('p', {}, `Settle the channel with ${c.partner} now? The partner co-signs; both balances go back on chain.`),
              { state: 'settled' }, ['CooperativeSettle'], () => ['Cooperative settlement asked; the channel settles once the partner co-signs.'])),
          }, 'Settle…'),
          h('button', {
            type: 'button', class: 'danger', disabled: !(open || c.state === 'withdrawing' || c.state === 'settling'),
            onclick: guarded(() => act(c, 'Close', h('p', {}, `Close the channel with ${c.partner}? It settles ${c.settle_timeout} blocks after the close.`),
              { state: 'closed' }, ['Close'], () => ['Close asked; the transaction is in the node’s journal (Overview).'])),
          }, 'Close…')));
    }));
    if (!channels.length) list.append(h('p', {}, 'No channel yet.'));
  };
  refreshers.set('channels', refresh);
  await refresh();
}

// Pay: the route and fee first, then the payment.
async function payView(root) {
  const token = tokenSelect('pay-token', true);
  const target = h('input', { id: 'pay-target', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: '0x…' });
  const amount = h('input', { id: 'pay-amount', required: true, inputmode: 'decimal', autocomplete: 'off' });
  const memo = h('input', { id: 'pay-memo', autocomplete: 'off', maxlength: 256 });
  const error = errorBox();
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  let offer = null; // what the preview showed: paid exactly so, once

  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      preview.replaceChildren();
      offer = null;
      try {
        const to = checkAddress(target.value, 'target');
        const raw = parseAmount(amount.value, token.value);
        if (raw === '0') throw new Error('The amount must be more than zero.');
        const data = memo.value ? hexOf(memo.value) : undefined;
        if (data && data.length > 2 + 512) throw new Error('The memo is longer than 256 bytes.');
        const direct = known.channels.find((c) => c.token.toLowerCase() === token.value.toLowerCase()
          && c.partner.toLowerCase() === to.toLowerCase() && c.state === 'open'
          && BigInt(c.balance) - BigInt(c.locked) >= BigInt(raw));
        let routes = [];
        if (!direct) routes = await get(`/paths/${token.value}/${to}?amount=${raw}`);
        if (!direct && !routes.length) throw new Error(`No route to ${to} can carry ${formatAmount(raw, token.value)} now.`);
        const route = direct ? { path: [known.status.address, to], fee: '0' } : routes[0];
        offer = { token: token.value, to, raw, data, fee: route.fee, id: newPaymentId() };
        const confirm = h('button', { type: 'button', id: 'pay-confirm', onclick: () => pay(confirm) }, `Pay ${formatAmount(raw, token.value)}`);
        preview.replaceChildren(
          h('h3', {}, 'Route'),
          h('ol', { class: 'route' }, route.path.map((a, i) => h('li', {}, h('code', { title: a }, short(a)),
            i === 0 ? ' (you)' : i === route.path.length - 1 ? ' (target)' : ' (mediator)'))),
          h('p', {}, direct ? 'Directly through your channel: no fee.' : `Fee: ${formatAmount(route.fee, token.value)} (at most; the payer locks amount + fee).`),
          confirm);
        confirm.focus();
      } catch (err) {
        showError(error, err);
      }
    },
  },
  field('Token', token),
  field('Target', target, 'Who is paid: an address'),
  field('Amount', amount, 'In the token’s unit, e.g. 12.5'),
  field('Memo', memo, 'Optional text the target receives (every mediator can read it)'),
  error,
  h('button', { type: 'submit' }, 'Show the route'));

  // what the preview showed is paid only as shown: any change asks for a new preview
  for (const input of [token, target, amount, memo]) {
    input.addEventListener('input', () => {
      offer = null;
      preview.replaceChildren();
    });
  }

  async function pay(button) {
    if (!offer || button.disabled) return;
    button.disabled = true; // a second click sends nothing; a retried request reuses the id
    error.hidden = true;
    const o = offer;
    const body = { amount: o.raw, payment_id: o.id, wait: false };
    if (o.data) body.data = o.data;
    // never more fee than shown: zero for a direct payment (if the node must route it after
    // all, only a route without fees may carry it)
    body.fee_limit = o.fee;
    try {
      const started = await call('POST', `/payments/${o.token}/${o.to}`, body);
      showPayment(started);
      const follow = async () => showPayment(await get(`/payments/${o.id}`));
      refreshers.set('payment', follow);
      setTimeout(() => schedule('payment'), 1000);
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  }

  function showPayment(p) {
    const words = { pending: 'under way', succeeded: 'paid', failed: 'failed', disputed: 'disputed (count it as paid)' };
    status.replaceChildren(h('p', { class: `payment ${p.state}` },
      `Payment ${p.payment_id}: ${words[p.state] || p.state}`,
      p.state === 'succeeded' ? ` (fee ${formatAmount(p.fee, p.token)})` : '',
      p.reason ? ` — ${p.reason}` : ''));
    if (p.state === 'pending') setTimeout(() => schedule('payment'), 2000);
  }

  root.append(h('h2', {}, 'Pay'), form, preview, status);
  const refresh = async () => {
    known.channels = await get('/channels');
    if (!known.status) await loadStatus();
  };
  refreshers.set('channels', refresh);
  await refresh();
}

// Payments: the history with filters and pages, and what is in flight now.
async function paymentsView(root) {
  const token = h('select', { id: 'filter-token' }, h('option', { value: '' }, 'every token'),
    [...tokens.values()].map((t) => h('option', { value: t.address }, t.symbol || t.address)));
  const direction = h('select', { id: 'filter-direction' }, ['', 'sent', 'received', 'mediated', 'failed']
    .map((d) => h('option', { value: d }, d || 'every kind')));
  const rows = h('tbody');
  const flight = h('ul', { class: 'flight', 'aria-live': 'polite' });
  const pages = []; // the `before` of each page shown so far
  const older = h('button', { type: 'button', class: 'secondary', onclick: () => turn(1) }, 'Older');
  const newer = h('button', { type: 'button', class: 'secondary', onclick: () => turn(-1) }, 'Newer');
  let last = [];

  async function turn(step) {
    if (step > 0 && last.length) pages.push(last[last.length - 1].id);
    if (step < 0) pages.pop();
    await refresh();
  }

  const refresh = async () => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (token.value) query.set('token', token.value);
    if (direction.value) query.set('direction', direction.value);
    if (pages.length) query.set('before', String(pages[pages.length - 1]));
    const [list, inFlight] = await Promise.all([get(`/payments?${query}`), get('/pending_transfers')]);
    last = list;
    rows.replaceChildren(...list.map((p) => h('tr', { class: p.direction },
      h('td', {}, when(p.at)), h('td', {}, p.pending ? `${p.direction} (unconfirmed)` : p.direction),
      h('td', { class: 'num' }, formatAmount(p.amount, p.token)), h('td', { class: 'num' }, p.direction === 'sent' ? formatAmount(p.fee, p.token) : ''),
      h('td', {}, p.counterparty ? h('code', { title: p.counterparty }, short(p.counterparty)) : '—'),
      h('td', {}, p.payment_id), h('td', {}, p.reason || textOfData(p.data)))));
    if (!list.length) rows.append(h('tr', {}, h('td', { colspan: 7 }, pages.length ? 'No older payment.' : 'No payment yet.')));
    older.disabled = list.length < PAGE_SIZE;
    newer.disabled = !pages.length;
    const words = { initiator: 'paying', mediator: 'forwarding', target: 'being paid' };
    flight.replaceChildren(...inFlight.map((t) => h('li', { class: 'live' },
      `Payment ${t.payment_id}: ${words[t.role] || t.role}`,
      t.amount !== undefined && t.token ? ` ${formatAmount(t.amount, t.token)}` : '',
      t.counterparty ? [t.role === 'target' ? ' from ' : ' to ', h('code', { title: t.counterparty }, short(t.counterparty))] : '',
      t.expiration !== undefined ? `, lock ${short(t.secrethash)} until block ${t.expiration}` : `, lock ${short(t.secrethash)}`)));
    if (!inFlight.length) flight.append(h('li', {}, 'Nothing in flight.'));
  };
  token.addEventListener('change', () => { pages.length = 0; refresh().catch((e) => notice(e.message)); });
  direction.addEventListener('change', () => { pages.length = 0; refresh().catch((e) => notice(e.message)); });
  root.append(h('h2', {}, 'Payments'),
    section('In flight', flight),
    section('History', h('div', { class: 'filters' }, field('Token', token), field('Kind', direction)),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['When', 'What', 'Amount', 'Fee', 'With', 'Payment id', 'Note'].map((c) => h('th', { scope: 'col' }, c)))),
        rows)),
      h('div', { class: 'buttons' }, newer, older)));
  refreshers.set('payments', refresh);
  refreshers.set('block', refresh); // a payment starting sends no event: the next block shows it
  await refresh();
}

// Swaps: make one (the node makes the secret), take one (with the maker's secret hash), follow
// and cancel them (docs/swaps.md).
async function swapsView(root) {
  const error = errorBox();
  const result = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const role = h('select', { id: 'swap-role' }, h('option', { value: 'maker' }, 'make a swap (I hold the secret, I pay first)'),
    h('option', { value: 'taker' }, 'take a swap (I was given its secret hash)'));
  const counterparty = h('input', { id: 'swap-counterparty', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: '0x…' });
  const hash = h('input', { id: 'swap-hash', autocomplete: 'off', spellcheck: 'false', placeholder: '0x… (64 hex digits)' });
  const sendToken = tokenSelect('swap-send-token', true);
  const sendAmount = h('input', { id: 'swap-send-amount', required: true, inputmode: 'decimal', autocomplete: 'off' });
  // the token we are paid in needs no channel of ours: any address, the known ones offered
  const receiveToken = h('input', { id: 'swap-receive-token', required: true, autocomplete: 'off', spellcheck: 'false', list: 'swap-tokens', placeholder: '0x…' });
  const offered = h('datalist', { id: 'swap-tokens' }, [...tokens.values()].map((t) => h('option', { value: t.address }, t.symbol || t.address)));
  const receiveAmount = h('input', { id: 'swap-receive-amount', required: true, inputmode: 'decimal', autocomplete: 'off' });
  const hashField = field('Secret hash', hash, 'The maker’s, for a taker');
  const showHash = () => { hashField.hidden = role.value !== 'taker'; };
  role.addEventListener('change', showHash);
  showHash();
  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        const other = checkAddress(counterparty.value, 'counterparty');
        const send = { token: sendToken.value, amount: parseAmount(sendAmount.value, sendToken.value) };
        const paidIn = checkAddress(receiveToken.value.trim(), 'token');
        const receive = { token: paidIn, amount: parseAmount(receiveAmount.value, paidIn) };
        if (send.amount === '0' || receive.amount === '0') throw new Error('Both amounts must be more than zero.');
        if (send.token.toLowerCase() === receive.token.toLowerCase()) throw new Error('A swap exchanges two different tokens.');
        const body = { role: role.value, counterparty: other, send, receive };
        if (role.value === 'taker') {
          if (!/^0x[0-9a-fA-F]{64}$/.test(hash.value.trim())) throw new Error('The secret hash is 0x and 64 hex digits.');
          body.secret_hash = hash.value.trim();
        }
        const what = h('p', {}, `${role.value === 'maker' ? 'Make' : 'Take'} a swap with ${other}: you pay ${formatAmount(send.amount, send.token)}, you receive ${formatAmount(receive.amount, receive.token)}.`);
        const made = await confirmAction('Swap', what, () => call('POST', '/swaps', body));
        if (!made) return;
        result.replaceChildren(h('p', {}, made.role === 'maker'
          ? ['Swap made. Give the taker its secret hash: ', h('code', { class: 'swap-hash' }, made.secret_hash)]
          : ['Swap taken: your payment goes out once the maker’s is locked to you. ', h('code', {}, short(made.secret_hash))]));
        await refresh();
      } catch (err) {
        showError(error, err);
      }
    },
  },
  field('Role', role), field('Counterparty', counterparty, 'Their address'), hashField,
  field('I pay', sendToken), field('Amount I pay', sendAmount, 'In the token’s unit'),
  field('I receive', receiveToken, 'The token’s address'), offered, field('Amount I receive', receiveAmount, 'In the token’s unit (its smallest unit if the node does not know it)'),
  error, h('button', { type: 'submit' }, 'Review the swap'));

  const rows = h('tbody');
  const cancel = async (swap) => {
    const body = h('p', {}, 'Cancel this swap? Its secret is out to no one: nothing is paid.');
    const answer = await confirmAction('Cancel the swap', body, () => call('DELETE', `/swaps/${swap.secret_hash}`));
    if (answer) await refresh();
  };
  const refresh = async () => {
    const swaps = await get('/swaps');
    rows.replaceChildren(...swaps.map((w) => h('tr', { class: `swap ${w.state}` },
      h('td', {}, h('code', { title: w.secret_hash }, short(w.secret_hash))), h('td', {}, w.role),
      h('td', { class: 'num' }, formatAmount(w.send.amount, w.send.token)), h('td', { class: 'num' }, formatAmount(w.receive.amount, w.receive.token)),
      h('td', {}, h('code', { title: w.counterparty }, short(w.counterparty))),
      h('td', { class: 'state' }, w.reason ? `${w.state}: ${w.reason}` : w.state),
      h('td', {}, w.cancellable ? h('button', { type: 'button', class: 'secondary', onclick: () => cancel(w) }, 'Cancel') : ''))));
    if (!swaps.length) rows.append(h('tr', {}, h('td', { colspan: 7 }, 'No swap yet.')));
  };
  root.append(h('h2', {}, 'Swaps'), form, result,
    section('Your swaps', h('div', { class: 'scroll' }, h('table', { id: 'swaps' },
      h('thead', {}, h('tr', {}, ['Secret hash', 'Role', 'I pay', 'I receive', 'With', 'State', ''].map((c) => h('th', { scope: 'col' }, c)))),
      rows))));
  refreshers.set('swaps', refresh);
  refreshers.set('block', refresh);
  await refresh();
}

// Network: the channel graph around the node, drawn, and listed.
async function networkView(root) {
  const token = tokenSelect('network-token', false);
  const drawing = h('div', { class: 'graph' });
  const listing = h('ul', { class: 'edges' });
  root.append(h('h2', {}, 'Network'), field('Token', token), drawing, section('Channels around you', listing));
  const refresh = async () => {
    const [s, network] = await Promise.all([known.status ? Promise.resolve(known.status) : loadStatus(), get('/network')]);
    const me = s.address.toLowerCase();
    const edges = network.filter((c) => c.token.toLowerCase() === String(token.value).toLowerCase())
      .map((c) => [c.participant1.toLowerCase(), c.participant2.toLowerCase()]);
    const neighbours = (a) => edges.filter((e) => e.includes(a)).map((e) => (e[0] === a ? e[1] : e[0]));
    const ring1 = [...new Set(neighbours(me))];
    const ring2 = [...new Set(ring1.flatMap(neighbours))].filter((a) => a !== me && !ring1.includes(a));
    const place = new Map([[me, [200, 200]]]);
    const around = (radius, turn) => [200 + radius * Math.cos(2 * Math.PI * turn), 200 + radius * Math.sin(2 * Math.PI * turn)];
    ring1.forEach((a, i) => place.set(a, around(95, i / ring1.length)));
    ring2.forEach((a, i) => place.set(a, around(155, (i + 0.5) / ring2.length)));
    const shown = edges.filter(([a, b]) => place.has(a) && place.has(b));
    const picture = svg('svg', { viewBox: '0 0 400 400', role: 'img', 'aria-labelledby': 'graph-title graph-desc' },
      svg('title', { id: 'graph-title' }, 'Channel graph'),
      svg('desc', { id: 'graph-desc' }, `You, ${ring1.length} partner(s) and ${ring2.length} node(s) two hops away`),
      shown.map(([a, b]) => svg('line', { x1: place.get(a)[0], y1: place.get(a)[1], x2: place.get(b)[0], y2: place.get(b)[1], class: a === me || b === me ? 'mine' : '' })),
      [...place].map(([a, [x, y]]) => svg('g', { class: a === me ? 'node me' : ring1.includes(a) ? 'node partner' : 'node far' },
        svg('circle', { cx: x, cy: y, r: a === me ? 16 : 11 }),
        svg('text', { x, y: y + (a === me ? 30 : 24), 'text-anchor': 'middle' }, a === me ? 'you' : `${a.slice(0, 6)}…`))));
    drawing.replaceChildren(picture);
    listing.replaceChildren(...shown.map(([a, b]) => h('li', {}, h('code', {}, a === me ? 'you' : short(a)), ' — ', h('code', {}, b === me ? 'you' : short(b)))));
    if (!shown.length) listing.append(h('li', {}, 'No channel in this token around you.'));
  };
  token.addEventListener('change', () => refresh().catch((e) => notice(e.message)));
  refreshers.set('channels', refresh);
  await refresh();
}

// The API token, asked once per tab when the node wants one.
function showLogin() {
  // asked already (several calls may hear the 401): the form stays as it is
  if (document.getElementById('api-token')) return;
  const input = h('input', { id: 'api-token', type: 'password', autocomplete: 'off', required: true });
  const error = errorBox();
  const button = h('button', { type: 'submit' }, 'Continue');
  const root = main();
  refreshers.clear();
  root.replaceChildren(h('h2', {}, 'API token'), h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      if (button.disabled) return;
      button.disabled = true;
      error.hidden = true;
      sessionStorage.setItem(TOKEN_KEY, input.value);
      try {
        await get('/status'); // the token is tried once, here
      } catch (err) {
        showError(error, err.status === 401 ? 'The node refused this token.' : err);
        button.disabled = false;
        input.select();
        return;
      }
      start();
    },
  }, h('p', {}, 'This node asks for its API token (the node’s --api-token). It is kept for this tab only.'),
  field('Token', input), error, button));
  input.focus();
}

const VIEWS = { overview, channels: channelsView, pay: payView, payments: paymentsView, swaps: swapsView, network: networkView };

async function route() {
  const name = (location.hash.replace(/^#\/?/, '') || 'overview').split('?')[0];
  const view = VIEWS[name] || overview;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  refreshers.clear();
  refreshers.set('status', loadStatus);
  notice('');
  const root = h('div', { class: 'view', 'data-view': name });
  main().replaceChildren(root);
  document.title = `Photon · ${name}`;
  try {
    await view(root);
  } catch (e) {
    if (e.status !== 401) notice(e.message);
  }
}

let started = false;

async function start() {
  try {
    await Promise.all([loadStatus(), loadTokens()]);
  } catch (e) {
    if (e.status !== 401) notice(e.message);
    return;
  }
  await route();
  if (!started) {
    started = true;
    window.addEventListener('hashchange', () => {
      route().then(() => main().focus());
    });
  }
  listen();
}

start();
